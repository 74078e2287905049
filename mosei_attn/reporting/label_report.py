"""Class counts of a corpus under every label rule, beside the paper's, so a user sees which rule comes
closest.

The paper (section 3.1) gives its class counts but not how it turned MOSEI's six intensities into one class:
happy 10,028, anger 6,794, sad 2,843, disgust 1,845, fear 817, surprise 349 (22,676 segments). Counts depend
on the corpus size, so rules are compared by their class *shares*: the distance of a rule from the paper is
the total variation distance between the two share vectors (0 = same proportions, 1 = disjoint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mosei_attn.data.corpora.labels import LABEL_RULES, class_counts, derive_targets
from mosei_attn.reporting.paper import PAPER_CLASS_COUNTS


def rule_counts(
    labels: np.ndarray, emotion_names: Sequence[str], rules: Sequence[str] = LABEL_RULES
) -> dict[str, np.ndarray]:
    """Per-class counts (E,) of raw label rows (N, 1 + E) under each rule (positives for ``multilabel``)."""
    names = tuple(emotion_names)
    return {
        rule: class_counts(derive_targets(labels, rule, names)[0], len(names)).astype(np.int64)
        for rule in rules
    }


def distance_to_paper(counts: np.ndarray, emotion_names: Sequence[str]) -> float:
    """Total variation distance between the class shares of ``counts`` and the paper's (NaN when the emotion
    set is not MOSEI's or there is nothing to count)."""
    if set(emotion_names) != set(PAPER_CLASS_COUNTS) or counts.sum() == 0:
        return float("nan")
    paper = np.array([PAPER_CLASS_COUNTS[n] for n in emotion_names], dtype=np.float64)
    return float(0.5 * np.abs(counts / counts.sum() - paper / paper.sum()).sum())


def label_report(
    labels: np.ndarray, folds: np.ndarray, emotion_names: Sequence[str], fold: str | None = "train"
) -> dict[str, Any]:
    """Counts per rule for the rows of ``fold`` (None: every row), each rule's distance to the paper, and the
    closest single-label rules (multilabel counts positives, not classes, so it is not ranked)."""
    rows = np.ones(len(folds), dtype=bool) if fold is None else np.asarray(folds).astype(str) == fold
    counts = rule_counts(np.asarray(labels)[rows], emotion_names)
    distance = {rule: distance_to_paper(c, emotion_names) for rule, c in counts.items()}
    ranked = [r for r in counts if r != "multilabel" and not np.isnan(distance[r])]
    best = min((distance[r] for r in ranked), default=math.nan)
    return {
        "fold": fold or "all",
        "segments": int(rows.sum()),
        "emotion_names": list(emotion_names),
        "counts": {rule: c.tolist() for rule, c in counts.items()},
        "distance": distance,
        "closest": [r for r in ranked if distance[r] <= best + 1e-9],  # several when their shares agree
    }


def format_label_report(report: dict[str, Any]) -> str:
    """The report as a plain-text table: count and share per class, one column pair per rule and the paper."""
    names = report["emotion_names"]
    paper = [PAPER_CLASS_COUNTS.get(n) for n in names]
    columns = {rule: list(c) for rule, c in report["counts"].items()}
    if all(p is not None for p in paper):
        columns["paper"] = paper
    width = max(8, *(len(n) for n in names))
    head = f"{'class':<{width}}" + "".join(
        f"  {c + (' (pos.)' if c == 'multilabel' else ''):>19}" for c in columns
    )
    lines = [
        f"class counts of the {report['fold']} fold ({report['segments']} segments) under each label rule",
        head,
        "-" * len(head),
    ]
    for i, name in enumerate(names):
        cells = []
        for values in columns.values():
            total = sum(values)
            share = f"{100 * values[i] / total:5.1f}%" if total else "    —"
            cells.append(f"  {values[i]:>11,} {share:>7}")
        lines.append(f"{name:<{width}}" + "".join(cells))
    lines.append(f"{'total':<{width}}" + "".join(f"  {sum(v):>11,} {'':>7}" for v in columns.values()))
    dist = [f"{rule} {d:.3f}" for rule, d in report["distance"].items() if not np.isnan(d)]
    if dist:
        lines.append("distance of the class shares from the paper's (total variation): " + ", ".join(dist))
        lines.append(f"closest to the paper (single-label rules): {', '.join(report['closest'])}")
    return "\n".join(lines)
