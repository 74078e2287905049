"""Callbacks the entry points add to every run."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging

from mosei_attn.checkpoints.reading import CONFIG_KEY


class ConfigInCheckpoint(L.Callback):
    """Stores the composed run config in every checkpoint, so `evaluate` and `predict` can rebuild the data
    and feature settings without the original command line (the model's own hparams carry its metadata)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[CONFIG_KEY] = self.config


class WeightAverage(EMAWeightAveraging):
    """An exponential moving average of the weights (ours, not the paper's; ``weight_average`` in
    conf/train.yaml).

    Training steps the weights as usual; after each step the average moves ``1 - decay`` of the way towards
    them. Validation, every checkpoint's ``state_dict`` (so the best checkpoint, the test, ``evaluate`` and
    ``predict``) and the model after training see the average. A checkpoint also holds the weights as trained
    (``current_model_state``), so a resumed fit goes on with both exactly where it stopped.

    Lightning's callback keeps its average after ``fit`` and swaps it in for validation only: a
    ``test(ckpt_path=...)`` in the same process would load the checkpoint's trained weights and test those,
    and the run's figures would be drawn with them. Here the average is dropped when training ends, and a
    checkpoint loaded outside ``fit`` is used as it is (its ``state_dict``: the average).
    """

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)  # the model now holds the average
        self._average_model = None

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if self._average_model is not None:  # resuming a fit: restore the average and the trained weights
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
