"""Config helpers: where the configs live, the ``resume_dir`` resolver, model names, plain containers."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

log = logging.getLogger(__name__)


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


def model_name(model_cfg: Any) -> str:
    """Short model name of a model config: its ``_target_`` ``...AttentionModule`` -> ``attention``, and
    ``attention_text`` with the direct text path (``text_path: true``)."""
    name = str(model_cfg["_target_"]).rsplit(".", 1)[-1].removesuffix("Module").lower()
    return name + ("_text" if model_cfg.get("text_path") else "")


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("resume_dir"):
        OmegaConf.register_new_resolver("resume_dir", resume_dir)


register_resolvers()


def to_container(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
