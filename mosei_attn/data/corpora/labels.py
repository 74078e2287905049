"""MOSEI label columns and the rules that turn the 7 raw label columns into training targets.

The cache stores the raw columns; targets are derived when loading by a named rule (docs/data.md, "Labels"):

- ``argmax``: index of the largest emotion; ties go to the first column, all-zero rows become the first
  emotion (happy).
- ``argmax_2018``: argmax over the emotions in the alphabetical column order of the 2018 releases (anger,
  disgust, fear, happy, sad, surprise): ties and all-zero rows go to anger. A candidate for the paper's
  class counts (its 30% anger), see docs/data.md.
- ``plurality``: the largest emotion when it is unique; ties and all-zero rows are dropped.
- ``majority``: the top emotion must exceed half of the row's summed intensity; other rows are dropped.
- ``multilabel``: one binary target per emotion, present when its intensity is > 0.
"""

from __future__ import annotations

import numpy as np

#: Column order of ``CMU_MOSEI_Labels.csd`` (also its "dimension names" metadata).
LABEL_COLUMNS: tuple[str, ...] = ("sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear")
#: The six emotions, in label-column order (column 1..6).
EMOTIONS: tuple[str, ...] = LABEL_COLUMNS[1:]
LABEL_RULES: tuple[str, ...] = ("argmax", "argmax_2018", "plurality", "majority", "multilabel")
#: Why a raw label row can give no target, whatever the rule (never guessed: such rows are dropped).
LABEL_FAULTS: tuple[str, ...] = ("label not a number", "negative emotion intensity")


def label_faults(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Masks (N,) of raw label rows (N, 1 + E) that hold a NaN/inf value, or a negative emotion intensity
    (sentiment, column 0, may be negative). A row with both counts as not a number."""
    labels = np.asarray(labels, dtype=np.float32)
    nan = ~np.isfinite(labels).all(axis=1)
    with np.errstate(invalid="ignore"):
        negative = ~nan & (labels[:, 1:] < 0).any(axis=1)
    return dict(zip(LABEL_FAULTS, (nan, negative), strict=True))


def no_emotion(labels: np.ndarray) -> np.ndarray:
    """Mask (N,) of label rows whose emotions are all zero (``argmax`` makes them the first emotion)."""
    emo = emotion_intensities(labels)
    with np.errstate(invalid="ignore"):
        return (emo == 0).all(axis=1)


def emotion_intensities(labels: np.ndarray, n_emotions: int | None = None) -> np.ndarray:
    """The emotion block (N, E) of raw label rows (N, 1 + E): column 0 is sentiment."""
    labels = np.asarray(labels, dtype=np.float32)
    if labels.ndim != 2:
        raise ValueError(f"label rows must be 2-D (N, columns), got shape {labels.shape}")
    block = labels[:, 1:]
    if n_emotions is not None and block.shape[1] != n_emotions:
        raise ValueError(f"expected {n_emotions} emotion columns after sentiment, got {block.shape[1]}")
    return block


def derive_targets(
    labels: np.ndarray, rule: str, emotion_names: tuple[str, ...] = EMOTIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Targets for raw label rows (N, 1 + E) by ``rule``; ``emotion_names`` (column order) matter only to
    ``argmax_2018``, which ranks the columns alphabetically.

    Returns ``(targets, keep)``: ``keep`` is a boolean mask (N,) of the rows the rule keeps, and
    ``targets`` holds one entry per kept row: class indices (int64) for the single-label rules, a
    (kept, E) float32 0/1 matrix for ``multilabel``. Rows with a fault (:func:`label_faults`) are never
    kept, by any rule.
    """
    emo = emotion_intensities(labels)
    valid = ~np.logical_or.reduce(list(label_faults(labels).values()))
    emo = np.where(valid[:, None], emo, 0.0)  # faulty rows are dropped below; zeros keep numpy quiet
    if rule == "multilabel":
        return (emo[valid] > 0).astype(np.float32), valid
    if rule not in LABEL_RULES:
        raise ValueError(f"unknown label rule {rule!r}; choose one of {', '.join(LABEL_RULES)}")
    if rule == "argmax_2018":
        if len(emotion_names) != emo.shape[1]:
            raise ValueError(f"{len(emotion_names)} emotion names for {emo.shape[1]} emotion columns")
        alphabetical = np.argsort(np.asarray(emotion_names), kind="stable")  # column indices, anger first
        top_2018 = alphabetical[emo[:, alphabetical].argmax(axis=1)]
        return top_2018[valid].astype(np.int64), valid
    top = emo.argmax(axis=1)  # first column wins ties
    if rule == "argmax":
        return top[valid].astype(np.int64), valid
    peak = emo.max(axis=1)
    # Intensities are means of 3 annotators (multiples of 1/3): compare with a tolerance.
    n_at_peak = np.isclose(emo, peak[:, None], atol=1e-6).sum(axis=1)
    keep = valid & (peak > 0) & (n_at_peak == 1)
    if rule == "majority":
        keep &= peak > 0.5 * emo.sum(axis=1) + 1e-6
    return top[keep].astype(np.int64), keep


def class_counts(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class counts of targets: class indices (N,) or a multilabel matrix (N, C) (positives)."""
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return targets.sum(axis=0).astype(np.int64)
    return np.bincount(targets.astype(np.int64), minlength=n_classes).astype(np.int64)
