"""Extending a run: a run resumed with a larger ``trainer.max_epochs`` than its cosine schedule was planned
for.

The cosine schedule's length is ``scheduler.T_max: ${trainer.max_epochs}``, and a finished run ends at
``eta_min`` (0): going on from there would train no more. Resumed with more epochs, the schedule is
stretched to the new length: the epochs left follow the cosine the run would have had, had it been started
with the new ``trainer.max_epochs``. The stretched schedule is stored in the next checkpoint, so resuming
it again goes on with it.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from torch.optim.lr_scheduler import CosineAnnealingLR

log = logging.getLogger(__name__)


def extend_cosine(trainer: Any, planned_epochs: int | None) -> None:
    """Stretch each restored cosine schedule of ``trainer`` planned for another length than ``planned_epochs``
    (the configured ``T_max``) to that length, and set each group's learning rate to the stretched schedule's
    value at the current step. A fresh run's schedule, planned for ``planned_epochs``, is left as it is."""
    if planned_epochs is None:
        return
    for config in trainer.lr_scheduler_configs:
        s = config.scheduler
        if (
            not isinstance(s, CosineAnnealingLR)
            or s.T_max == planned_epochs
            or s.last_epoch >= planned_epochs
        ):
            continue
        old = s.T_max
        s.T_max = planned_epochs
        factor = (1 + math.cos(math.pi * s.last_epoch / planned_epochs)) / 2
        for group, base in zip(s.optimizer.param_groups, s.base_lrs, strict=True):
            group["lr"] = s.eta_min + (base - s.eta_min) * factor  # later steps go on from this value
        s._last_lr = [group["lr"] for group in s.optimizer.param_groups]
        lrs = ", ".join(f"{lr:.3g}" for lr in s._last_lr)
        log.info(
            "the run's cosine schedule was planned for %d epochs, now %d: it goes on at lr %s (epoch %d of "
            "%d)",
            old,
            planned_epochs,
            lrs,
            s.last_epoch,
            planned_epochs,
        )
