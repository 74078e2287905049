"""Resuming a run: the config its checkpoint records is the run's settings; the command line may change only
where and how it runs (``resumable()``: trainer, loggers, paths, where the data is, ...), never what it trains
(model, optimizer, scheduler, data and features, seed, the weight average): those would silently mix two runs.

``resumed_config(cfg)`` (called first thing by ``train(cfg)``) takes the recorded config, puts in the
resumable settings the command line gives, and refuses, in one line, a command line that sets anything else to
another value than the run had. A setting the command line does not give keeps the run's value, whatever
today's default is: a run recorded before a default changed resumes as it was trained, with no override.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path
from typing import Any

from mosei_attn.checkpoints.reading import read_checkpoint, rebase_paths, recorded_config
from mosei_attn.errors import ConfigError

log = logging.getLogger(__name__)

#: Config keys (and groups) a resumed run may set differently from the run it continues: where and how it
#: runs. ``resumable()`` adds where each data config's corpus finds its files (``Corpus.LOCATIONS``).
RUN_SETTINGS: tuple[str, ...] = (
    "ckpt_path",
    "trainer",
    "logger",
    "callbacks",
    "hydra",
    "paths",
    "test",
    "figures",
    "tags",
    "sweep_name",
    "data.root",
    "data.cache_dir",
    "data.num_workers",
    "data.feature_workers",
    "data.pin_memory",
    "data.word_vectors.path",
    "data.verify",
)
#: A value that is one interpolation of another key: ``${trainer.max_epochs}``.
FOLLOWS = re.compile(r"\$\{([\w.]+)\}")


def data_locations(data: dict[str, Any]) -> list[str]:
    """The keys of an unresolved data config that say where its corpus's files are, beside ``data.root``: the
    corpus's ``LOCATIONS`` arguments (its class from ``corpus._target_`` or its ``/signature@corpus``
    entry)."""
    from hydra.utils import get_class

    corpus = data.get("corpus") or {}
    entries = [e for e in data.get("defaults") or [] if isinstance(e, dict)]
    signed = [v for e in entries for k, v in e.items() if k == "/signature@corpus"]
    target = corpus.get("_target_") or (signed[0] if signed else None)
    if target is None:
        return []
    return [f"data.corpus.{a}" for a in getattr(get_class(target), "LOCATIONS", ())]


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
    key = key.lstrip("+~").replace("/", ".")
    return any(key == k or key.startswith(k + ".") for k in resumable())


def hpc_checkpoint(folder: str | os.PathLike) -> bool:
    """Whether Lightning will restore a SLURM requeue checkpoint (``hpc_ckpt_<n>.ckpt`` in ``folder``) when
    no ``ckpt_path`` is given: under SLURM, when one exists."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect() and any(Path(folder).glob("hpc_ckpt_*.ckpt"))


def leaves(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{dotted key: value}`` of every value of a plain nested dict that is not itself a non-empty dict."""
    if not isinstance(d, dict) or (prefix and not d):
        return {prefix[:-1]: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out |= leaves(v, f"{prefix}{k}.")
    return out


def put(d: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` of a plain nested dict, making the dicts on the way (a value that is none there)."""
    *path, last = key.split(".")
    for part in path:
        if not isinstance(d.get(part), dict):
            d[part] = {}
        d = d[part]
    d[last] = value


def drop(d: dict[str, Any], key: str) -> None:
    """Delete dotted ``key`` of a plain nested dict where it is there, and the dicts it leaves empty."""
    head, _, rest = key.partition(".")
    if rest and isinstance(d.get(head), dict):
        drop(d[head], rest)
        if not d[head]:
            del d[head]
    elif not rest:
        d.pop(head, None)


def followers(cfg: Any, prefix: str = "") -> dict[str, str]:
    """``{dotted key: the key it follows}`` for each value of a config that is one interpolation of a
    resumable key (the cosine schedule's ``scheduler.T_max: ${trainer.max_epochs}``)."""
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg
    out: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if isinstance(value, dict):
            out |= followers(value, f"{prefix}{key}.")
        elif isinstance(value, str) and (m := FOLLOWS.fullmatch(value)) and is_resumable(m[1]):
            out[f"{prefix}{key}"] = m[1]
    return out


def given_keys(cfg: Any, now: dict[str, Any]) -> set[str] | None:
    """The dotted keys the command line sets: those it names, and those where ``now`` (the resolved ``cfg``)
    differs from the config composed without the command line's overrides (today's defaults; this covers
    groups that set keys elsewhere, ``debug=tiny_shapes``). None outside a Hydra job (no record of them)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from mosei_attn.config import to_container

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    defaults = leaves(to_container(_compose(hydra_cfg.job.config_name)))
    now_leaves = leaves(now)
    given = {k for k in set(now_leaves) | set(defaults) if now_leaves.get(k) != defaults.get(k)}
    for o in OverridesParser.create().parse_overrides(list(hydra_cfg.overrides.task)):
        named = o.key_or_group.replace("/", ".")
        given |= {k for k in set(now_leaves) | set(defaults) if k == named or k.startswith(named + ".")}
    return given


def _compose(config_name: str) -> Any:
    """The config ``config_name`` composed from today's files without overrides."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from mosei_attn.config import CONFIG_DIR

    if GlobalHydra.instance().is_initialized():  # inside a Hydra job: its own config search path
        return compose(config_name)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name)


def refuse_fewer_epochs(ckpt_path: str, ckpt: dict[str, Any], merged: dict[str, Any]) -> None:
    """ConfigError where the resumed run's ``trainer.max_epochs`` is fewer than the epochs its checkpoint has
    trained (Lightning cannot go back)."""
    done = ckpt.get("epoch", -1) + 1  # saved at the end of epoch ``epoch`` (counted from 0)
    max_epochs = (merged.get("trainer") or {}).get("max_epochs")
    if isinstance(max_epochs, int) and 0 <= max_epochs < done:
        raise ConfigError(
            f"trainer.max_epochs={max_epochs}: {ckpt_path} has trained {done} epochs already; give "
            f"trainer.max_epochs={done} or more to resume it, or evaluate it as it is with python -m "
            f"mosei_attn.evaluate ckpt_path={ckpt_path}"
        )


def resumed_config(cfg: Any) -> Any:
    """The config a run resumed from ``cfg.ckpt_path`` goes on with (a DictConfig): the config its checkpoint
    records, with its paths moved to the run folder it is in now (and to ``paths.data_dir`` where the command
    line gives one), and the resumable settings the command line gives. A non-resumable setting it gives with
    another value than the run had is a ConfigError naming each key and both values; a key that follows a
    resumable one (``scheduler.T_max: ${trainer.max_epochs}``) follows it (see models/schedule.py)."""
    from omegaconf import OmegaConf

    from mosei_attn.config import to_container

    ckpt = read_checkpoint(cfg.ckpt_path)
    run = recorded_config(cfg.ckpt_path, ckpt)
    now = to_container(cfg)
    given = given_keys(cfg, now)
    now_leaves, run_leaves = leaves(now), leaves(run)
    keys = set(now_leaves) | set(run_leaves) if given is None else given
    merged, run_paths = run, run.get("paths") or {}
    if run_paths.get("output_dir"):  # the run folder as it is now (copied, moved)
        merged = rebase_paths(merged, run_paths["output_dir"], now["paths"]["output_dir"])
    if "paths.data_dir" in keys and run_paths.get("data_dir"):  # the data moved
        merged = rebase_paths(merged, run_paths["data_dir"], now["paths"]["data_dir"])
    follows = followers(cfg)
    conflicts = []
    for key in sorted(keys):
        value, had = now_leaves.get(key), run_leaves.get(key)  # a key the run did not record had no value
        if is_resumable(key) and key not in now_leaves:  # taken out now (~key, another group)
            drop(merged, key)
        elif is_resumable(key):
            put(merged, key, value)
        elif key in follows:  # it follows a resumable key, where the run had it follow that key too
            if had == run_leaves.get(follows[key]):
                put(merged, key, value)
        elif value != had:
            conflicts.append(f"{key}: {had!r} in the run, {value!r} now")
    if conflicts:
        raise ConfigError(
            f"ckpt_path={cfg.ckpt_path}: the run was trained with other settings than given now: "
            f"{'; '.join(conflicts)}. Nothing was written. A resumed run keeps what it trains: drop these "
            "overrides, or start a new run without ckpt_path. On resume you may change: "
            f"{', '.join(resumable())}"
        )
    refuse_fewer_epochs(cfg.ckpt_path, ckpt, merged)
    for key in RUN_SETTINGS:  # a top-level run setting added since the run was recorded: today's
        if "." not in key and key in now and key not in merged:
            merged[key] = now[key]
    for key in ("ckpt_path", "paths.output_dir"):
        put(merged, key, OmegaConf.select(cfg, key))
    changed = sorted(k for k in keys if is_resumable(k) and now_leaves.get(k) != run_leaves.get(k))
    log.info(
        "resuming %s with its recorded settings; changed: %s", cfg.ckpt_path, ", ".join(changed) or "none"
    )
    return OmegaConf.create(merged)
