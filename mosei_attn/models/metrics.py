"""Emotion recognition metrics (paper section 4.3) as a torchmetrics ``Metric``.

Single-label (one class per segment, predictions by top-1 of the logits):

- ``wa``: overall accuracy, every segment weighs the same (the paper's "weighted accuracy").
- ``ua``: recall of each class averaged over the classes present in the targets (the paper's "class
  accuracy", "unweighted accuracy"; sklearn's ``balanced_accuracy_score``).
- ``precision`` / ``recall`` / ``f1`` per class (0 where undefined, e.g. a class never predicted), and
  their plain means over all classes ``precision_macro`` / ``recall_macro`` / ``f1_macro``;
  ``confusion`` (C, C): rows are true classes, columns predictions.

Multilabel (one yes/no decision per emotion, positive where sigmoid(logit) > ``threshold``):

- per emotion: ``precision``, ``recall`` (TPR), ``tnr``, ``f1``, ``acc`` (TP + TN) / N and ``wacc``,
  the "weighted accuracy" (TPR + TNR) / 2 of the MOSEI emotion literature; ``confusion_per_emotion``
  (E, 2, 2), [emotion, truth, prediction] (no ``confusion`` key: there is no C x C matrix).
- ``wa`` = mean ``acc`` (every decision weighs the same, as single-label WA) and ``ua`` = mean ``wacc``
  (positives and negatives weigh the same, as single-label UA, so ``val/ua_best`` keeps rewarding the
  rare emotions). ``acc_mean``, ``wacc_mean`` and ``f1_macro`` name them plainly.

The state is only sums of counts, so torchmetrics adds them across DDP ranks before ``compute``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den as float, 0 where den is 0 (sklearn's zero_division=0)."""
    num, den = num.double(), den.double()
    safe = torch.where(den > 0, den, torch.ones_like(den))  # no 0/0 (NaN) even in the unused branch
    return torch.where(den > 0, num / safe, torch.zeros_like(num))


def _f1(precision: torch.Tensor, recall: torch.Tensor) -> torch.Tensor:
    return _ratio(2 * precision * recall, precision + recall)


class EmotionMetrics(Metric):
    """Accumulates a confusion matrix (or per-emotion counts) over batches; ``compute`` returns a dict
    of tensors: the keys the module docstring lists."""

    full_state_update = False

    def __init__(self, num_classes: int, multilabel: bool = False, threshold: float = 0.5, **kwargs: Any):
        super().__init__(**kwargs)
        if num_classes < 2 and not multilabel:
            raise ValueError(f"single-label metrics need at least 2 classes, got {num_classes}")
        self.num_classes, self.multilabel, self.threshold = num_classes, multilabel, threshold
        shape = (num_classes, 2, 2) if multilabel else (num_classes, num_classes)
        self.add_state("confmat", default=torch.zeros(shape, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """``logits`` (B, C); ``target`` (B,) class indices, or (B, C) 0/1 for multilabel."""
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"logits must be (batch, {self.num_classes}), got {tuple(logits.shape)}")
        c = self.num_classes
        if self.multilabel:
            if target.shape != logits.shape:
                raise ValueError(
                    f"multilabel targets must be {tuple(logits.shape)}, got {tuple(target.shape)}"
                )
            pred = (logits.detach().float().sigmoid() > self.threshold).long()
            truth = (target > 0.5).long()
            # cell [emotion, truth, pred] of the per-emotion 2x2 confusion matrices
            cells = torch.arange(c, device=pred.device) * 4 + truth * 2 + pred  # (B, E)
            self.confmat += torch.bincount(cells.flatten(), minlength=4 * c).view(c, 2, 2)
        else:
            if target.ndim != 1 or target.shape[0] != logits.shape[0]:
                raise ValueError(
                    f"targets must be ({logits.shape[0]},) class indices, got {tuple(target.shape)}"
                )
            if target.numel() and (target.min() < 0 or target.max() >= c):
                raise ValueError(f"class indices must lie in [0, {c}), got {target.min()}..{target.max()}")
            pred = logits.detach().argmax(dim=1)
            self.confmat += torch.bincount(target.long() * c + pred, minlength=c * c).view(c, c)

    def compute(self) -> dict[str, torch.Tensor]:
        return self._multilabel() if self.multilabel else self._single()

    def _single(self) -> dict[str, torch.Tensor]:
        cm = self.confmat
        tp, support, predicted = cm.diagonal(), cm.sum(dim=1), cm.sum(dim=0)
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        f1 = _f1(precision, recall)
        present = support > 0
        ua = recall[present].mean() if present.any() else recall.new_zeros(())
        return {
            "wa": _ratio(tp.sum(), cm.sum()),
            "ua": ua,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "precision_macro": precision.mean(),
            "recall_macro": recall.mean(),
            "f1_macro": f1.mean(),
            "confusion": cm.clone(),
        }

    def _multilabel(self) -> dict[str, torch.Tensor]:
        cm = self.confmat
        tn, fp, fn, tp = cm[:, 0, 0], cm[:, 0, 1], cm[:, 1, 0], cm[:, 1, 1]
        precision, recall, tnr = _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(tn, tn + fp)
        f1, acc, wacc = _f1(precision, recall), _ratio(tp + tn, cm.sum(dim=(1, 2))), (recall + tnr) / 2
        return {
            "wa": acc.mean(),
            "ua": wacc.mean(),
            "precision": precision,
            "recall": recall,
            "tnr": tnr,
            "f1": f1,
            "acc": acc,
            "wacc": wacc,
            "support": tp + fn,
            "acc_mean": acc.mean(),
            "wacc_mean": wacc.mean(),
            "precision_macro": precision.mean(),
            "recall_macro": recall.mean(),
            "f1_macro": f1.mean(),
            "confusion_per_emotion": cm.clone(),
        }


def to_numpy(results: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``compute()``'s tensors as python floats (scalars) and numpy arrays, detached and on the CPU."""
    out: dict[str, Any] = {}
    for key, value in results.items():
        arr = value.detach().cpu().numpy()
        out[key] = arr.item() if arr.ndim == 0 else arr
    return out
