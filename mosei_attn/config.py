"""Config helpers: where the Hydra configs live, the ``resume_dir`` resolver, plain containers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

log = logging.getLogger(__name__)

#: Where the project's Hydra configs live (top-level `conf/`, beside the package).
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def resume_dir(ckpt_path: str | None, default: str) -> str:
    """Run folder for a run: the checkpoint's own run folder when resuming, else ``default``."""
    if ckpt_path in (None, "", "None", "null"):
        return default
    ckpt = Path(str(ckpt_path))
    return str(ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent)


def register_resolvers() -> None:
    """Register the project's OmegaConf resolvers (``${resume_dir:...}``) once."""
    if not OmegaConf.has_resolver("resume_dir"):
        OmegaConf.register_new_resolver("resume_dir", resume_dir)


register_resolvers()


def to_container(cfg: Any) -> Any:
    """A resolved plain container of an OmegaConf config; anything else unchanged."""
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
