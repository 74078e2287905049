"""What the entry points (train, evaluate, prepare) share: the data module and the model from a config, and
the corpus preparation that global rank 0 does while the other ranks wait."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mosei_attn.config import to_container
from mosei_attn.errors import ConfigError

#: How long ranks > 0 wait for rank 0 to build the corpus and its feature cache (seconds).
PREPARE_TIMEOUT_S = 3600.0
#: How often they look (seconds).
PREPARE_POLL_S = 5.0


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (or the only one)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return rank_zero_only.rank == 0


def build_datamodule(data_cfg: DictConfig | dict[str, Any]) -> L.LightningDataModule:
    """The data module of a ``data`` config; its factories (``corpus``, ``write_corpus``, ``extras``: Hydra
    ``_partial_`` configs) are called when the data is prepared, with the DataModule's ``root``. A required
    value left unset (``data=mosei`` without ``data.root``) is an error that names it."""
    missing = _unset(OmegaConf.to_container(data_cfg, resolve=False)) if OmegaConf.is_config(data_cfg) else []
    if missing:
        keys = ", ".join(f"data.{k}" for k in missing)
        raise ConfigError(
            f"{keys} not set: give it on the command line, e.g. data.root=/path/to/CMU_MOSEI (the folder "
            "holding CMU_MOSEI_Labels.csd and Raw/) for data=mosei, data.corpus.manifest=clips.csv for "
            "data=manifest"
        )
    return instantiate(OmegaConf.create(to_container(data_cfg)), _convert_="all")


def _unset(d: Any, prefix: str = "") -> list[str]:
    """Dotted keys of an unresolved config container whose value is Hydra's mandatory ``???``."""
    if not isinstance(d, dict):
        return []
    out = []
    for k, v in d.items():
        out += [f"{prefix}{k}"] if v == "???" else _unset(v, f"{prefix}{k}.")
    return out


def check_optimizer(cfg: DictConfig) -> None:
    """Build ``cfg.optimizer`` and ``cfg.scheduler`` on one dummy parameter, before anything else runs: a
    value they refuse (``optimizer.lr=abc``) is a ConfigError naming the settings given as text."""
    import torch

    from mosei_attn.models.base import LIGHTNING_SCHEDULER_KEYS, build_optimizers

    groups = {g: to_container(cfg[g]) for g in ("optimizer", "scheduler") if cfg.get(g)}
    try:
        if "optimizer" in groups:  # as the module will build them (EmotionModule.configure_optimizers)
            build_optimizers(
                groups["optimizer"], groups.get("scheduler"), [torch.nn.Parameter(torch.zeros(1))]
            )
    except (TypeError, ValueError) as e:
        text = [
            f"{g}.{k}={v!r}"
            for g, d in groups.items()
            for k, v in d.items()
            if isinstance(v, str) and not k.startswith("_") and k not in LIGHTNING_SCHEDULER_KEYS
        ]
        raise ConfigError(
            f"{', '.join(text) or 'optimizer'}: the optimizer or its schedule cannot be built with these "
            f"settings ({e}); give numbers, e.g. optimizer.lr=1e-3"
        ) from e


def build_model(cfg: DictConfig, meta: dict[str, Any]) -> L.LightningModule:
    """The LightningModule of ``cfg.model`` with the data's metadata and plain-dict optimizer configs
    (the module instantiates its ``_partial_`` optimizer and scheduler itself)."""
    make = instantiate(cfg.model, _partial_=True, _convert_="all")
    scheduler = to_container(cfg.scheduler) if cfg.get("scheduler") else None
    return make(meta=meta, optimizer=to_container(cfg.optimizer), scheduler=scheduler)


def prepare_on_rank_zero(datamodule: Any, timeout_s: float = PREPARE_TIMEOUT_S) -> None:
    """Prepare the corpus and cache on global rank 0; other ranks wait for it (DDP, SLURM)."""
    if is_rank_zero():
        datamodule.prepare_data()
        return
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            datamodule.setup("fit")
            return
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(PREPARE_POLL_S)
