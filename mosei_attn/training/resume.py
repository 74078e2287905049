"""Resuming a run: the checkpoint argument is checked before anything is written, and a resumed run gets the
settings it was trained with (from its run folder); a command-line override that would change them is refused.

A resumed run may change where and how it runs (``resumable()``: trainer, loggers, paths, where the data is, ...), never
what it trains (model, optimizer, scheduler, data and features, seed): those would silently mix two runs.
"""

from __future__ import annotations

import functools
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from mosei_attn.errors import ConfigError, UserFault

#: Config keys (and groups) a resumed run may set differently from the run it continues: where and how it runs.
#: ``resumable()`` adds where each data config's corpus finds its files (``Corpus.LOCATIONS``).
RUN_SETTINGS: tuple[str, ...] = (
    "ckpt_path", "trainer", "logger", "callbacks", "hydra", "paths", "test", "tags", "sweep_name", "data.root",
    "data.cache_dir", "data.num_workers", "data.feature_workers", "data.pin_memory", "data.word_vectors.path",
    "data.verify",
)  # fmt: skip
#: A relative interpolation of a top-level data key, as a corpus argument reads it: ``${..root}``.
PARENT_KEY = re.compile(r"\$\{\.\.([\w.]+)\}")
#: How a file written by ``torch.save`` starts: a zip archive (the default format), or a pickle (legacy).
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")
NO_VALUE = ("", "null", "None")


class CheckpointError(UserFault, ValueError):
    """A file that is not a readable checkpoint: another kind of file, or a damaged one. Names the file."""


def data_locations(data: dict[str, Any]) -> list[str]:
    """The keys of an unresolved data config that say where its corpus's files are: the corpus's
    ``LOCATIONS`` arguments, the top-level keys they read (``root: ${..root}``) and every other factory's
    argument that reads one of those (``write_corpus.root``)."""
    from hydra.utils import get_class

    corpus = data.get("corpus") or {}
    defaults = [e for e in data.get("defaults") or [] if isinstance(e, dict)]
    signed = [v for e in defaults for k, v in e.items() if k == "/signature@corpus"]
    if "_target_" not in corpus and not signed:
        return []
    locations = getattr(get_class(corpus.get("_target_") or signed[0]), "LOCATIONS", ())
    args = [a for a in locations if a in corpus or signed]  # a signature gives the corpus every argument
    tops = {m.group(1) for a in args if (m := PARENT_KEY.fullmatch(str(corpus.get(a))))}
    found = [f"corpus.{a}" for a in args] + sorted(tops)
    for name, node in data.items():
        if isinstance(node, dict) and name != "corpus" and "_target_" in node:
            found += [
                f"{name}.{a}" for a, v in node.items() if (m := PARENT_KEY.fullmatch(str(v))) and m[1] in tops
            ]
    return [f"data.{k}" for k in found]


@functools.cache
def resumable() -> tuple[str, ...]:
    """Every config key a resumed run may change: ``RUN_SETTINGS`` and the corpus locations of every data
    config in conf/data."""
    from omegaconf import OmegaConf

    from mosei_attn.config import CONFIG_DIR

    keys = list(RUN_SETTINGS)
    for path in sorted((Path(CONFIG_DIR) / "data").glob("*.yaml")):
        keys += data_locations(OmegaConf.to_container(OmegaConf.load(path), resolve=False))
    return tuple(dict.fromkeys(keys))


def is_resumable(key: str) -> bool:
    """Whether the dotted config key (or config group, ``data/audio``) may change on resume."""
    key = key.lstrip("+~")
    return any(key == k or key.startswith((k + ".", k + "/")) for k in resumable())


def hpc_checkpoint(folder: str | os.PathLike) -> bool:
    """Whether Lightning will restore a SLURM requeue checkpoint (``hpc_ckpt_<n>.ckpt`` in ``folder``) when
    no ``ckpt_path`` is given: under SLURM, when one exists."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect() and any(Path(folder).glob("hpc_ckpt_*.ckpt"))


def checkpoint_fault(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be a checkpoint (no such file, a folder, another kind of file), or None. Reads 4 bytes."""
    p = Path(path)
    if not p.exists():
        return "no such file"
    if not p.is_file():
        return "not a file"
    with open(p, "rb") as f:
        head = f.read(4)
    if head.startswith(CHECKPOINT_MAGIC):
        return None
    kind = {b"RIFF": " (a WAV file)", b"fLaC": " (a FLAC file)"}.get(head, "")
    return f"not a PyTorch checkpoint{kind}: it starts with {head!r}, not a torch.save archive"


def checked_ckpt_arg(argv: list[str], key: str = "ckpt_path") -> str | None:
    """The ``ckpt_path=`` value of a command line, after checking it names a checkpoint file; exits with a
    message naming the file otherwise, before Hydra creates any folder."""
    value = None
    for arg in argv[1:]:
        k, eq, v = arg.lstrip("+").partition("=")
        if eq and k == key:
            value = v.strip("'\"")
    if value is None or value in NO_VALUE:
        return None
    fault = checkpoint_fault(value)
    if fault:
        raise SystemExit(
            f"{key}={value}: {fault}. Nothing was written; give a .ckpt file written by training"
        )
    return value


def check_input_args(argv: list[str], keys: tuple[str, ...]) -> None:
    """Exit, naming it, when a ``key=path`` argument of ``keys`` names no file: before Hydra creates a folder."""
    for arg in argv[1:]:
        key, eq, value = arg.lstrip("+").partition("=")
        value = value.strip("'\"")
        if eq and key in keys and value not in NO_VALUE and not Path(value).is_file():
            raise SystemExit(f"{key}={value}: no such file. Nothing was written")


def _stored(run_dir: Path) -> tuple[list[str], Any, dict[str, Any]]:
    """(task overrides, config, group choices) the run was started with, from ``<run>/.hydra``."""
    import yaml
    from omegaconf import OmegaConf

    hydra_dir = run_dir / ".hydra"
    files = [hydra_dir / n for n in ("overrides.yaml", "config.yaml", "hydra.yaml")]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise SystemExit(
            f"{run_dir}: no {', '.join(missing)} in {hydra_dir}, so the settings of the run to resume cannot be "
            "restored. Resume a checkpoint inside the run folder that training wrote (<run>/checkpoints/last.ckpt)"
        )
    overrides = yaml.safe_load(files[0].read_text()) or []
    choices = dict(yaml.safe_load(files[2].read_text())["hydra"]["runtime"]["choices"])
    return [str(o) for o in overrides], OmegaConf.load(files[1]), choices


def merge_overrides(run_dir: Path, new: list[str]) -> tuple[list[str], list[str]]:
    """(the run's overrides updated by the resumable ones of ``new`` and those restating the run's value,
    conflicts): a non-resumable override conflicts when it sets another value than the run had (unrecorded: null)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    stored, config, choices = _stored(run_dir)
    parser = OverridesParser.create()
    merged = {o.key_or_group: line for line, o in zip(stored, parser.parse_overrides(stored), strict=True)}
    merged.pop("ckpt_path", None)
    old_values = {o.key_or_group: o.value() for o in parser.parse_overrides(stored)}
    conflicts = []
    for line, o in zip(new, parser.parse_overrides(new), strict=True):
        key = o.key_or_group
        if is_resumable(key):
            merged[key] = line
            continue
        if key in old_values:
            had: Any = old_values[key]
        elif key in choices:
            had = choices[key]
        else:
            had = OmegaConf.select(config, key, default=None, throw_on_missing=False)  # absent = null
            had = OmegaConf.to_container(had) if OmegaConf.is_config(had) else had
        if o.is_delete() or o.value() != had:
            conflicts.append(f"{line} (the run has {key}={had})")
        elif key not in old_values:  # the run's value, said now: kept, a default of today may differ from it
            merged[key] = line
    return list(merged.values()), conflicts


def resume_argv(argv: list[str], environ: os._Environ | dict = os.environ) -> list[str]:
    """The command line of a run resumed with ``ckpt_path=``: the run's own overrides (its
    ``.hydra/overrides.yaml``) plus the resumable ones given now. Exits, before anything is written, on a bad
    ``ckpt_path``, an override that would change what the run trains, or a run folder another live run owns.
    Other command lines pass unchanged; so does a DDP child process (LOCAL_RANK > 0), which takes rank 0's
    overrides."""
    from mosei_attn.config import hydra_value, resume_dir

    ckpt = checked_ckpt_arg(argv)
    if ckpt is None or int(environ.get("LOCAL_RANK") or 0) > 0:
        return argv
    run_dir = Path(resume_dir(ckpt, "."))
    flags = [a for a in argv[1:] if "=" not in a]  # -m, --cfg job, ...
    given = [a for a in argv[1:] if "=" in a and not a.lstrip("+").startswith("ckpt_path=")]
    hydra_args = [a for a in given if a.lstrip("+~").startswith("hydra.")]
    merged, conflicts = merge_overrides(run_dir, [a for a in given if a not in hydra_args])
    if conflicts:
        raise SystemExit(
            f"ckpt_path={ckpt} resumes the run in {run_dir}, trained with other settings than asked for now: "
            f"{'; '.join(conflicts)}. A resumed run keeps the settings it was trained with: drop these "
            f"overrides, or start a new run without ckpt_path. Nothing was written. On resume you may change: "
            f"{', '.join(resumable())}"
        )
    if not any(int(environ.get(k) or 0) > 0 for k in ("RANK", "SLURM_PROCID")):  # rank 0 owns the folder
        from mosei_attn.training.run_owner import refuse_if_owned

        refuse_if_owned(run_dir, environ)
    import sys

    print(f"resuming {run_dir} with its settings: {' '.join(merged) or '(the defaults)'}", file=sys.stderr)
    return [argv[0], *flags, *merged, *hydra_args, f"ckpt_path={hydra_value('ckpt_path', ckpt)}"]


def config_conflicts(
    cfg: dict[str, Any], run_cfg: dict[str, Any], prefix: str = "", derived: frozenset[str] = frozenset()
) -> list[str]:
    """Dotted keys (not resumable, nor in ``derived``) whose values differ between two resolved configs,
    ``key: run -> now``."""
    out = []
    for key in sorted(set(cfg) | set(run_cfg), key=str):
        dotted = f"{prefix}{key}"
        if is_resumable(dotted) or dotted in derived:
            continue
        now, had = cfg.get(key), run_cfg.get(key)  # a key a run did not record had no value: null
        if isinstance(now, dict) and isinstance(had, dict):
            out += config_conflicts(now, had, dotted + ".", derived)
        elif now != had:
            out.append(f"{dotted}: {had!r} -> {now!r}")
    return out


def derived_keys(cfg: Any, prefix: str = "") -> frozenset[str]:
    """Dotted keys of a config whose value is an interpolation of one resumable key (the cosine schedule's
    ``scheduler.T_max: ${trainer.max_epochs}``): they follow that key on resume."""
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg
    out: set[str] = set()
    for key, value in (raw or {}).items():
        if isinstance(value, dict):
            out |= derived_keys(value, f"{prefix}{key}.")
        elif isinstance(value, str) and (m := re.fullmatch(r"\$\{([\w.]+)\}", value)) and is_resumable(m[1]):
            out.add(f"{prefix}{key}")
    return frozenset(out)


def verify_archive(path: str | os.PathLike) -> None:
    """Refuse (CheckpointError) a zip checkpoint any member of which fails its CRC (reads the whole file)."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: damaged checkpoint: not a readable zip archive ({e})") from e
    if bad is not None:
        raise CheckpointError(
            f"{path}: damaged checkpoint: the bytes of {bad} fail their CRC check (a bad disk, a truncated or "
            "altered copy); use another checkpoint of the run, or train again"
        )


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The contents of a checkpoint file (tensors on the CPU) after checking the archive's CRCs; a missing,
    damaged or other kind of file is an error naming it, never an unpickling traceback or wrong weights."""
    import torch

    fault = checkpoint_fault(path)
    if fault == "no such file":
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if fault:
        raise CheckpointError(f"{path}: {fault}")
    if zipfile.is_zipfile(path):
        verify_archive(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as e:  # a damaged archive fails deep inside torch's unpickler
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from e


def recorded_config(ckpt_path: Any) -> dict[str, Any]:
    """The run config a checkpoint written by ``mosei_attn.train`` records (read and CRC-checked by
    :func:`read_checkpoint`); CheckpointError naming the file where it records none."""
    from mosei_attn.training.callbacks import CONFIG_KEY

    run_cfg = read_checkpoint(ckpt_path).get(CONFIG_KEY)
    if run_cfg is None:
        raise CheckpointError(
            f"{ckpt_path}: no '{CONFIG_KEY}' entry: not a checkpoint written by mosei_attn.train"
        )
    return run_cfg


def check_resume(cfg: Any) -> None:
    """Refuse (ConfigError) to resume ``cfg.ckpt_path`` with settings other than the ones its run was trained
    with (the config the checkpoint records), except the ``resumable()`` ones and the keys that follow one of
    them (``scheduler.T_max: ${trainer.max_epochs}``: a longer run gets a new schedule, see the models)."""
    from mosei_attn.config import to_container

    run_cfg = recorded_config(cfg.ckpt_path)
    conflicts = config_conflicts(to_container(cfg), run_cfg, derived=derived_keys(cfg))
    if conflicts:
        raise ConfigError(
            f"{cfg.ckpt_path}: resuming with other settings than the run was trained with: "
            f"{'; '.join(conflicts)}. A resumed run keeps its settings (on resume you may change: "
            f"{', '.join(resumable())}); start a new run for others"
        )
