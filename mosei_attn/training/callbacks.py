"""Callbacks the entry points add to every run."""

from __future__ import annotations

from typing import Any

import lightning as L

#: Key under which a checkpoint stores the composed run config.
CONFIG_KEY = "mosei_attn_config"


class ConfigInCheckpoint(L.Callback):
    """Stores the composed run config in every checkpoint, so `evaluate` and `predict` can rebuild the data
    and feature settings without the original command line (the model's own hparams carry its metadata)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[CONFIG_KEY] = self.config
