"""The Lightning Trainer of a run, from its config: its callbacks (the config's, the weight average, the run
config in every checkpoint, what the data's extras need), its loggers, and checkpoints written atomically."""

from __future__ import annotations

from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig

from mosei_attn.config import to_container
from mosei_attn.training.callbacks import ConfigInCheckpoint
from mosei_attn.training.checkpoint_io import AtomicCheckpointIO
from mosei_attn.training.loggers import build_loggers


def build_trainer(cfg: DictConfig, datamodule: Any) -> tuple[L.Trainer, list[Any]]:
    """(the Trainer of ``cfg.trainer`` with the run's callbacks and loggers, the loggers)."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    if cfg.get("weight_average"):  # the weights validated and checkpointed: their moving average
        callbacks.append(instantiate(cfg.weight_average))
    callbacks.append(ConfigInCheckpoint(to_container(cfg)))
    callbacks += datamodule.callbacks()  # what the data's extras need (a synthetic corpus: its cue metrics)
    loggers = build_loggers(cfg)
    if not loggers:  # the learning-rate monitor needs a logger to write to
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    # checkpoints are written to a temporary name and renamed: a failed write leaves the previous last.ckpt
    plugins = [AtomicCheckpointIO()]
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins
    )
    for lg in loggers:
        if lg.__class__.__name__ != "WandbLogger":  # W&B got the config at init
            lg.log_hyperparams(to_container(cfg))
    return trainer, loggers
