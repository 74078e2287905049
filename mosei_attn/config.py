"""Config helpers: where the Hydra configs live, the ``resume_dir``, ``record_dir``, ``run_name`` and
``cpus_per_job`` resolvers, plain containers, Hydra quoting."""

from __future__ import annotations

import os
import re
import secrets
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def config_dir() -> str:
    """The folder of the project's Hydra configs: ``mosei_attn/conf`` inside an installed package (a wheel,
    ``pip install .``: pyproject.toml ships the repository's top-level ``conf/`` there), else ``conf/`` beside
    the package in a source checkout (an editable install, or the checkout on ``PYTHONPATH``)."""
    packaged = resources.files("mosei_attn") / "conf"
    checkout = Path(__file__).resolve().parent.parent / "conf"
    for folder in (Path(str(packaged)), checkout):
        if (folder / "train.yaml").is_file():
            return str(folder)
    raise FileNotFoundError(
        f"mosei_attn: no Hydra configs (train.yaml) in {packaged} or {checkout}; the package was installed "
        "without its configs: reinstall it from the repository (pip install <checkout> or its wheel)"
    )


#: Where the project's Hydra configs live (see :func:`config_dir`).
CONFIG_DIR = config_dir()


def resume_dir(ckpt_path: str | None, default: str) -> str:
    """Run folder for a run: the checkpoint's own run folder when resuming, else ``default``."""
    if ckpt_path in (None, "", "None", "null"):
        return default
    ckpt = Path(str(ckpt_path))
    return str(ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent)


def record_dir(ckpt_path: str | None) -> str | None:
    """Where Hydra records a run's config in its folder: ``.hydra``; None (nothing written) when resuming, so
    the run folder keeps the record of how the run started (the config a resumed run goes on with is in its
    checkpoints, ``mosei_attn.checkpoints.resume``)."""
    return ".hydra" if ckpt_path in (None, "", "None", "null") else None


#: Random hex digits in a run tag, after the pid (the pid keeps runs on one host apart, these across hosts).
TAG_HEX = 4
#: How a run folder's name starts: sorted by name is sorted by start time.
STAMP = "%Y-%m-%d_%H-%M-%S"


def run_name(*parts: str) -> str:
    """A unique run folder name, ``<time>[_<part>...]_<pid>-<random hex>`` (the ``run_name`` resolver of every
    command's folder: ``${run_name:}``, or ``${run_name:attention}`` for ``<time>_attention_<pid>-<hex>``).
    Cached per config, so every interpolation of one run's folder gives the same name."""
    tag = f"{os.getpid()}-{secrets.token_hex(TAG_HEX // 2)}"
    return "_".join([datetime.now().strftime(STAMP), *map(str, parts), tag])


def parallel_jobs() -> int:
    """How many jobs of this launch run at once: a parallel launcher's ``n_jobs``
    (``hydra/launcher=parallel``, joblib's; -1 = one per core), else 1."""
    from hydra.core.hydra_config import HydraConfig

    n_jobs = OmegaConf.select(HydraConfig.get(), "launcher.n_jobs") if HydraConfig.initialized() else None
    if n_jobs is None:
        return 1
    return (os.cpu_count() or 1) if int(n_jobs) < 0 else max(1, int(n_jobs))


def cpus_per_job() -> int:
    """This job's share of the machine's cores: the cores divided among the jobs that run at once."""
    return max(1, (os.cpu_count() or 1) // parallel_jobs())


def register_resolvers() -> None:
    """``resume_dir``, ``record_dir`` and ``run_name`` (cached per config: one run, one name) for the configs'
    folder names; ``cpus_per_job`` for worker counts shared by the jobs of a parallel sweep."""
    plain = {"cpus_per_job": cpus_per_job, "resume_dir": resume_dir, "record_dir": record_dir}
    for name, resolver in plain.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
    if not OmegaConf.has_resolver("run_name"):
        OmegaConf.register_new_resolver("run_name", run_name, use_cache=True)


register_resolvers()


def to_container(cfg: Any) -> Any:
    """A resolved plain container of an OmegaConf config; anything else unchanged."""
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg


def hydra_quote(value: str) -> str:
    """``value`` as one quoted Hydra override value (``'...'``): Hydra's grammar refuses non-ASCII letters,
    commas, quotes and brackets unquoted. Backslashes are escaped only before a quote or the closing quote."""
    escaped = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    return f"'{escaped}'"


def hydra_value(key: str, value: str) -> str:
    """``value`` as it must be written after ``key=`` for Hydra to read back this very string: as it is when
    it does, else quoted (:func:`hydra_quote`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        if OverridesParser.create().parse_override(f"{key}={value}").value() == value:
            return value
    except Exception:  # Hydra's grammar refuses it (non-ASCII letters, unbalanced quotes or brackets)
        pass
    return hydra_quote(value)


def quote_args(argv: list[str], keys: tuple[str, ...], keep: tuple[str, ...] = ()) -> list[str]:
    """``argv`` with the values of ``key=value`` arguments of ``keys`` quoted for Hydra where it would not
    read them back as the same string (:func:`hydra_value`), except values already quoted and those in
    ``keep`` (``null``, ``false``: meant as Hydra reads them)."""
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        quoted = value[:1] in ("'", '"') and len(value) > 1 and value[-1] == value[0]
        plain = not eq or key.lstrip("+") not in keys or quoted or value in keep
        out.append(arg if plain else f"{key}={hydra_value(key, value)}")
    return out
