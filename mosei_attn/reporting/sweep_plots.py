"""A sweep's figures: bars of the final figures per configuration, and the offline dashboard, per-epoch
validation curves of each configuration with their mean and band over seeds.

Bars (``aggregate.png``): mean +- std over seeds of each tabulated metric, the paper's WA / UA as ticks on
the validation bars.

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
from typing import Any

import numpy as np

from mosei_attn.reporting.paper import PAPER_SPLIT

#: Curves drawn by default (columns of metrics.csv, fractions in [0, 1]).
CURVE_METRICS = ("val/wa", "val/ua")
#: Column titles of the usual metrics (others are shown by their metrics.json key).
SHORT_NAMES = {"wa": "WA", "ua": "UA", "f1_macro": "macro F1"}


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
    from mosei_attn.reporting.plots import plt, save_figure  # the plotting module sets the headless backend

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
    return save_figure(fig, path)


def metric_title(metric: str) -> str:
    """``val/wa`` -> ``val WA``."""
    split, _, name = metric.rpartition("/")
    return f"{split} {SHORT_NAMES.get(name, name)}".strip()


def paper_position(metrics: Sequence[str]) -> int:
    """Where the paper's columns go: right after the last metric of the paper's split (else at the end)."""
    last = [i for i, m in enumerate(metrics) if m.startswith(f"{PAPER_SPLIT}/")]
    return last[-1] + 1 if last else len(metrics)


def plot_bars(rows: list[dict[str, Any]], metrics: Sequence[str], path: Path) -> Path:
    """Grouped bars (percent) per configuration with +-1 std error bars; the paper's WA / UA as black ticks."""
    from mosei_attn.reporting.plots import plt, save_figure  # the plotting module sets the headless backend

    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(rows) * len(metrics) / 2 + 2), 4))
    x = np.arange(len(rows))
    paper_label = "paper (real MOSEI val.)"  # on the first tick drawn only
    for j, m in enumerate(metrics):
        means = np.array([r[m][0] for r in rows]) * 100
        stds = np.nan_to_num(np.array([r[m][1] for r in rows]) * 100)
        ax.bar(
            x + (j - (len(metrics) - 1) / 2) * width,
            means,
            width,
            yerr=stds,
            capsize=3,
            label=metric_title(m),
        )
        paper_key = {"wa": "paper_wa", "ua": "paper_ua"}.get(m.rsplit("/", 1)[-1])
        if paper_key and m.startswith(f"{PAPER_SPLIT}/"):
            ax.scatter(
                x + (j - (len(metrics) - 1) / 2) * width,
                [r[paper_key] * 100 for r in rows],
                marker="_",
                s=400,
                color="black",
                label=paper_label,
                zorder=3,
            )
            paper_label = None
    ax.set_xticks(x, [f"{r['config']}\n(n={r['n']})" for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars: never over a tick
    ax.set_title("mean ± std over seeds")
    return save_figure(fig, path)
