"""What the entry points (train, evaluate, prepare, predict) share: the data module and the model from a config,
a model from a checkpoint, and the corpus preparation that global rank 0 does while the other ranks wait."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from mosei_attn.training.callbacks import CONFIG_KEY
from mosei_attn.utils import to_container

#: How long ranks > 0 wait for rank 0 to build the corpus and its feature cache (seconds).
PREPARE_TIMEOUT_S = 3600.0
#: How often they look (seconds).
PREPARE_POLL_S = 5.0


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (or the only one)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return rank_zero_only.rank == 0


def build_datamodule(data_cfg: DictConfig) -> L.LightningDataModule:
    """The data module of a ``data`` config (its corpus built from the corpus's own ``_target_``)."""
    return instantiate(data_cfg, _convert_="all")


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


def load_checkpoint(ckpt_path: str | Path, map_location: str = "cpu") -> tuple[L.LightningModule, DictConfig]:
    """The model and the run config stored in a checkpoint written by `mosei_attn.train`."""
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"{ckpt_path}: checkpoint not found")
    ckpt = torch.load(ckpt_path, map_location=map_location, weights_only=False)
    if CONFIG_KEY not in ckpt:
        raise ValueError(
            f"{ckpt_path}: no '{CONFIG_KEY}' entry: not a checkpoint written by mosei_attn.train"
        )
    run_cfg = OmegaConf.create(ckpt[CONFIG_KEY])
    cls = get_class(run_cfg.model._target_)
    model = cls.load_from_checkpoint(ckpt_path, map_location=map_location, weights_only=False)
    return model, run_cfg
