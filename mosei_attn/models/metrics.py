"""Emotion recognition metrics (paper section 4.3): torchmetrics' classification metrics in one
``MetricCollection``, with the figures the paper names derived from them.

Single-label (one class per segment, predictions by top-1 of the logits):

- ``wa``: overall accuracy, every segment weighs the same (the paper's "weighted accuracy"; torchmetrics'
  ``MulticlassAccuracy(average="micro")``).
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

Why UA is not ``MulticlassRecall(average="macro")``: torchmetrics' macro average leaves out only the
classes with no true positive, false positive and false negative, so a class absent from the targets but
predicted once counts with recall 0. Measured (torchmetrics 1.9): targets [0, 0, 1, 1], predictions
[0, 2, 1, 1] of 3 classes give macro recall 0.5, balanced accuracy 0.75. A validation split without one
emotion would then score a model down for a class it cannot get right, so UA is the mean per-class
recall (``average=None``) over the classes with support.

Every state is a sum of counts that torchmetrics adds across DDP ranks before ``compute``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
    MultilabelAccuracy,
    MultilabelConfusionMatrix,
    MultilabelF1Score,
    MultilabelPrecision,
    MultilabelRecall,
    MultilabelSpecificity,
)


def _single_label(c: int) -> dict[str, Any]:
    per_class = {"num_classes": c, "average": None, "validate_args": False}
    return {
        "wa": MulticlassAccuracy(c, average="micro", validate_args=False),
        "precision": MulticlassPrecision(**per_class),
        "recall": MulticlassRecall(**per_class),
        "f1": MulticlassF1Score(**per_class),
        "confusion": MulticlassConfusionMatrix(c, validate_args=False),
    }


def _multilabel(c: int, threshold: float) -> dict[str, Any]:
    per_label = {"num_labels": c, "threshold": threshold, "average": None, "validate_args": False}
    return {
        "acc": MultilabelAccuracy(**per_label),
        "precision": MultilabelPrecision(**per_label),
        "recall": MultilabelRecall(**per_label),
        "tnr": MultilabelSpecificity(**per_label),
        "f1": MultilabelF1Score(**per_label),
        "confusion_per_emotion": MultilabelConfusionMatrix(c, threshold=threshold, validate_args=False),
    }


class EmotionMetrics(MetricCollection):
    """torchmetrics' accuracy, precision, recall, F1 and confusion matrix over batches; ``compute`` returns a
    dict of tensors: the keys the module docstring lists."""

    def __init__(self, num_classes: int, multilabel: bool = False, threshold: float = 0.5):
        if num_classes < 2 and not multilabel:
            raise ValueError(f"single-label metrics need at least 2 classes, got {num_classes}")
        # Separate states (no compute groups): the metrics are few and small, and merge_state stays exact.
        metrics = _multilabel(num_classes, threshold) if multilabel else _single_label(num_classes)
        super().__init__(metrics, compute_groups=False)
        self.num_classes = num_classes
        self.multilabel = multilabel
        self.threshold = threshold

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:  # type: ignore[override]
        """``logits`` (B, C); ``target`` (B,) class indices, or (B, C) 0/1 for multilabel."""
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"logits must be (batch, {self.num_classes}), got {tuple(logits.shape)}")
        c = self.num_classes
        if self.multilabel:
            if target.shape != logits.shape:
                raise ValueError(
                    f"multilabel targets must be {tuple(logits.shape)}, got {tuple(target.shape)}"
                )
            # probabilities, not logits: torchmetrics takes values inside [0, 1] for probabilities
            super().update(logits.detach().float().sigmoid(), (target > 0.5).long())
        else:
            if target.ndim != 1 or target.shape[0] != logits.shape[0]:
                raise ValueError(
                    f"targets must be ({logits.shape[0]},) class indices, got {tuple(target.shape)}"
                )
            if target.numel() and (target.min() < 0 or target.max() >= c):
                raise ValueError(f"class indices must lie in [0, {c}), got {target.min()}..{target.max()}")
            super().update(logits.detach().argmax(dim=1), target.long())

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        res = super().compute()
        return self._multilabel(res) if self.multilabel else self._single(res)

    @staticmethod
    def _single(res: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cm = res["confusion"]
        precision, recall, f1 = (res[k].double() for k in ("precision", "recall", "f1"))
        support = cm.sum(dim=1)
        present = support > 0
        ua = recall[present].mean() if present.any() else recall.new_zeros(())  # see the module docstring
        return {
            "wa": res["wa"].double(),
            "ua": ua,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "precision_macro": precision.mean(),
            "recall_macro": recall.mean(),
            "f1_macro": f1.mean(),
            "confusion": cm,
        }

    @staticmethod
    def _multilabel(res: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        precision, recall, tnr, f1, acc = (
            res[k].double() for k in ("precision", "recall", "tnr", "f1", "acc")
        )
        wacc = (recall + tnr) / 2
        cm = res["confusion_per_emotion"]
        return {
            "wa": acc.mean(),
            "ua": wacc.mean(),
            "precision": precision,
            "recall": recall,
            "tnr": tnr,
            "f1": f1,
            "acc": acc,
            "wacc": wacc,
            "support": cm[:, 1].sum(dim=1),
            "acc_mean": acc.mean(),
            "wacc_mean": wacc.mean(),
            "precision_macro": precision.mean(),
            "recall_macro": recall.mean(),
            "f1_macro": f1.mean(),
            "confusion_per_emotion": cm,
        }


def to_numpy(results: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``compute()``'s tensors as python floats (scalars) and numpy arrays, detached and on the CPU."""
    out: dict[str, Any] = {}
    for key, value in results.items():
        arr = value.detach().cpu().numpy()
        out[key] = arr.item() if arr.ndim == 0 else arr
    return out
