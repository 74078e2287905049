"""The offline dashboard of a sweep: per-epoch validation curves of each configuration, mean and band over seeds.

Each job folder's ``metrics.csv`` (Lightning's CSV logger, one row per logged step) holds ``epoch`` and the
per-epoch ``val/wa`` and ``val/ua``. For every configuration (the jobs ``aggregate`` groups by their
overrides without the seed) and epoch, the curve is the mean over the seeds that reached that epoch and the
band mean +- sample std (ddof 1; no band where one seed). Written by ``python -m mosei_attn.aggregate`` as
``aggregate_curves.png``; the same figure W&B draws online (``python -m mosei_attn.dashboard``).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Curves drawn by default (columns of metrics.csv, fractions in [0, 1]).
CURVE_METRICS = ("val/wa", "val/ua")


@dataclass(frozen=True)
class Curve:
    """One metric of one configuration: epochs (0-based), mean and std over seeds, and seeds per epoch."""

    epochs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray


def read_epochs(
    run_folder: str | os.PathLike, metrics: Sequence[str] = CURVE_METRICS
) -> dict[str, dict[int, float]]:
    """metric -> {epoch: value} from a job's ``metrics.csv`` (the last row of an epoch wins, as after a
    resume); empty dicts when the file is missing (a failed job, or fast_dev_run, which logs nothing)."""
    path = Path(run_folder) / "metrics.csv"
    out: dict[str, dict[int, float]] = {m: {} for m in metrics}
    if not path.is_file():
        return out
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            for m in metrics:
                if row.get(m) not in (None, ""):
                    out[m][int(float(row["epoch"]))] = float(row[m])
    return out


def epoch_curves(
    groups: dict[str, Sequence[str | os.PathLike]], metrics: Sequence[str] = CURVE_METRICS
) -> dict[str, dict[str, Curve]]:
    """label -> metric -> :class:`Curve` over the job folders of each group (configurations without any
    logged epoch are left out)."""
    out: dict[str, dict[str, Curve]] = {}
    for label, folders in groups.items():
        per_run = [read_epochs(folder, metrics) for folder in folders]
        curves = {}
        for m in metrics:
            epochs = sorted({e for run in per_run for e in run[m]})
            if not epochs:
                continue
            values = [[run[m][e] for run in per_run if e in run[m]] for e in epochs]
            curves[m] = Curve(
                epochs=np.array(epochs),
                mean=np.array([np.mean(v) for v in values]),
                std=np.array([np.std(v, ddof=1) if len(v) > 1 else math.nan for v in values]),
                n=np.array([len(v) for v in values]),
            )
        if curves:
            out[label] = curves
    return out


def plot_curves(
    curves: dict[str, dict[str, Curve]], path: Path, metrics: Sequence[str] = CURVE_METRICS
) -> Path:
    """One panel per metric (percent over epochs, 1-based), a line per configuration with its +-1 std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        for label, by_metric in curves.items():
            if m not in by_metric:
                continue
            c = by_metric[m]
            x = c.epochs + 1
            (line,) = ax.plot(
                x, 100 * c.mean, marker="o", markersize=3, label=f"{label} (n={int(c.n.max())})"
            )
            band = ~np.isnan(c.std)
            ax.fill_between(
                x[band],
                100 * (c.mean - c.std)[band],
                100 * (c.mean + c.std)[band],
                alpha=0.2,
                color=line.get_color(),
            )
        ax.set_title(f"{m}: mean ± std over seeds")
        ax.set_xlabel("epoch")
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path
