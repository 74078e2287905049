"""EmotionMetrics (torchmetrics underneath) against hand-computed confusion matrices and an independent numpy
computation, and the paper-style table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mosei_attn.models.metrics import EmotionMetrics, to_numpy
from mosei_attn.reporting.run_report import format_table

APPROX = {"rel": 1e-6, "abs": 1e-9}


def one_hot_logits(pred: list[int], num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(pred), num_classes).float() * 4 - 2


# true:  0 0 0 0 1 1 2 2   -> confusion matrix [[3, 1, 0], [1, 1, 0], [0, 2, 0]]
# pred:  0 0 0 1 1 0 1 1      (class 2 is never predicted)
TARGET = [0, 0, 0, 0, 1, 1, 2, 2]
PRED = [0, 0, 0, 1, 1, 0, 1, 1]


def test_single_label_hand_computed() -> None:
    m = EmotionMetrics(3)
    m.update(one_hot_logits(PRED, 3), torch.tensor(TARGET))
    r = to_numpy(m.compute())
    assert r["confusion"].tolist() == [[3, 1, 0], [1, 1, 0], [0, 2, 0]]
    assert r["wa"] == pytest.approx(4 / 8, **APPROX)
    assert r["ua"] == pytest.approx((3 / 4 + 1 / 2 + 0) / 3, **APPROX)
    assert r["precision"] == pytest.approx([3 / 4, 1 / 4, 0.0], **APPROX)  # never predicted -> 0
    assert r["recall"] == pytest.approx([3 / 4, 1 / 2, 0.0], **APPROX)
    assert r["f1"] == pytest.approx([3 / 4, 1 / 3, 0.0], **APPROX)
    assert r["f1_macro"] == pytest.approx((3 / 4 + 1 / 3) / 3, **APPROX)
    assert r["support"].tolist() == [4, 2, 2]


def test_batches_and_rank_merge_equal_one_update() -> None:
    """Counts add up over batches, and over ranks (merge_state applies the DDP reduction)."""
    whole = EmotionMetrics(3)
    first = EmotionMetrics(3)
    second = EmotionMetrics(3)
    whole.update(one_hot_logits(PRED, 3), torch.tensor(TARGET))
    first.update(one_hot_logits(PRED[:3], 3), torch.tensor(TARGET[:3]))
    second.update(one_hot_logits(PRED[3:], 3), torch.tensor(TARGET[3:]))
    for a, b in zip(first.values(), second.values(), strict=True):
        a.merge_state(b)  # what torchmetrics' DDP sync does with each metric's states
    merged, one = to_numpy(first.compute()), to_numpy(whole.compute())
    for key in one:
        np.testing.assert_allclose(merged[key], one[key], err_msg=key)
    whole.reset()
    whole.update(one_hot_logits([0], 3), torch.tensor([1]))
    assert to_numpy(whole.compute())["confusion"].sum() == 1  # reset forgot the earlier batches


def test_ua_ignores_classes_absent_from_targets() -> None:
    m = EmotionMetrics(3)
    m.update(one_hot_logits([0, 1, 1, 1], 3), torch.tensor([0, 1, 0, 1]))
    r = m.compute()
    assert float(r["ua"]) == pytest.approx((1 / 2 + 1) / 2, **APPROX)
    assert float(r["recall_macro"]) == pytest.approx((1 / 2 + 1 + 0) / 3, **APPROX)
    # precision: class 0 1/1, class 1 2/3, class 2 never predicted 0; the macro means are over all classes
    assert float(r["precision_macro"]) == pytest.approx((1 + 2 / 3 + 0) / 3, **APPROX)


def _by_hand(pred: np.ndarray, target: np.ndarray, c: int) -> dict[str, np.ndarray | float]:
    """Single-label figures straight from their definitions, one class at a time (no confusion matrix)."""
    out: dict[str, list[float]] = {"precision": [], "recall": [], "f1": []}
    for k in range(c):
        tp = np.sum((pred == k) & (target == k))
        p = tp / np.sum(pred == k) if np.any(pred == k) else 0.0
        r = tp / np.sum(target == k) if np.any(target == k) else 0.0
        out["precision"].append(p)
        out["recall"].append(r)
        out["f1"].append(2 * p * r / (p + r) if p + r else 0.0)
    present = [k for k in range(c) if np.any(target == k)]
    return {k: np.array(v) for k, v in out.items()} | {
        "wa": float(np.mean(pred == target)),
        "ua": float(np.mean([out["recall"][k] for k in present])),  # sklearn's balanced_accuracy_score
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_label_matches_an_independent_computation(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    c = 6
    logits = torch.randn(97, c, generator=gen)
    target = torch.randint(0, c - 1, (97,), generator=gen)  # the last class never occurs: UA leaves it out
    m = EmotionMetrics(c)
    for part in range(0, 97, 32):  # several batches
        m.update(logits[part : part + 32], target[part : part + 32])
    r = to_numpy(m.compute())
    ref = _by_hand(logits.argmax(1).numpy(), target.numpy(), c)
    assert r["wa"] == pytest.approx(ref["wa"], **APPROX) and r["ua"] == pytest.approx(ref["ua"], **APPROX)
    for key in ("precision", "recall", "f1"):
        np.testing.assert_allclose(r[key], ref[key], rtol=1e-6, atol=1e-9, err_msg=key)
    for key in ("precision", "recall", "f1"):
        assert r[f"{key}_macro"] == pytest.approx(ref[key].mean(), **APPROX), key
    counts = np.zeros((c, c), dtype=np.int64)
    np.add.at(counts, (target.numpy(), logits.argmax(1).numpy()), 1)
    assert r["confusion"].tolist() == counts.tolist()


def test_multilabel_weighted_accuracy() -> None:
    # emotion 0: tp 1, fn 1, tn 1, fp 1;  emotion 1: tp 1, fp 1, tn 2, fn 0
    target = torch.tensor([[1, 1], [1, 0], [0, 0], [0, 0]], dtype=torch.float32)
    pred = torch.tensor([[1, 1], [0, 1], [0, 0], [1, 0]], dtype=torch.float32)
    m = EmotionMetrics(2, multilabel=True)
    m.update(pred * 4 - 2, target)
    r = to_numpy(m.compute())
    assert r["wacc"] == pytest.approx([0.5, (1 + 2 / 3) / 2], **APPROX)
    assert r["acc"] == pytest.approx([0.5, 0.75], **APPROX)
    assert r["f1"] == pytest.approx([0.5, 2 / 3], **APPROX)
    assert r["ua"] == pytest.approx(r["wacc_mean"]) and r["wacc_mean"] == pytest.approx((0.5 + 5 / 6) / 2)
    assert r["wa"] == pytest.approx(r["acc_mean"]) and r["acc_mean"] == pytest.approx(0.625)
    assert r["confusion_per_emotion"][1].tolist() == [[2, 1], [0, 1]]
    assert r["tnr"] == pytest.approx([0.5, 2 / 3], **APPROX) and r["support"].tolist() == [2, 1]


def test_multilabel_threshold_applies_to_probabilities_even_for_small_logits() -> None:
    """Logits inside [0, 1] are still logits: sigmoid(0.3) > 0.5 is positive (torchmetrics alone would take
    0.3 for a probability and call it negative)."""
    m = EmotionMetrics(2, multilabel=True, threshold=0.5)
    m.update(torch.tensor([[0.3, -0.3]]), torch.tensor([[1.0, 0.0]]))
    assert to_numpy(m.compute())["acc"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("logits", "target", "multilabel", "message"),
    [
        (
            torch.zeros(4, 2),
            torch.zeros(4, dtype=torch.long),
            False,
            r"logits must be \(batch, 3\), got \(4, 2\)",
        ),
        (
            torch.zeros(4, 3),
            torch.tensor([0, 1, 2, 3]),
            False,
            r"class indices must lie in \[0, 3\), got 0\.\.3",
        ),
        (
            torch.zeros(4, 3),
            torch.zeros(4, dtype=torch.long),
            True,
            r"multilabel targets must be \(4, 3\), got \(4,\)",
        ),
    ],
)
def test_bad_input_is_refused(
    logits: torch.Tensor, target: torch.Tensor, multilabel: bool, message: str
) -> None:
    """Each kind of bad input gets its own error, naming the shape or range it needed and what it got."""
    with pytest.raises(ValueError, match=message):
        EmotionMetrics(3, multilabel=multilabel).update(logits, target)


def test_format_table_has_rows_and_accuracies() -> None:
    m = EmotionMetrics(3)
    m.update(one_hot_logits(PRED, 3), torch.tensor(TARGET))
    table = format_table(to_numpy(m.compute()), ["happy", "sad", "anger"])
    lines = table.splitlines()
    assert lines[1].split() == ["happy", "0.75", "0.75", "0.75"]
    assert any(line.split()[:4] == ["average", "0.33", "0.42", "0.36"] for line in lines)
    assert "41.67%" in lines[-1] and "50.00%" in lines[-1]
    with pytest.raises(ValueError, match="emotion names"):
        format_table(m.compute(), ["happy", "sad"])
