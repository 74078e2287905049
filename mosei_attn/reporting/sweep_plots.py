"""Learning curves of a run or a sweep, and a sweep's bars of the final figures per configuration.

Learning curves: each run folder's ``metrics.csv`` (Lightning's CSV logger, one row per logged step) holds
``epoch`` and the per-epoch ``train/loss``, ``val/loss``, ``val/wa`` and ``val/ua``. For every
configuration (one run, or the jobs ``aggregate`` groups by their overrides without the seed) and epoch, the
curve is the mean over the runs that reached that epoch and the band mean +- sample std (ddof 1; no band
where one run). :func:`plot_learning_curves` draws the losses in one panel and val WA and UA in the other,
marks the best epoch (highest mean ``val/ua``, the epoch the checkpoint callback keeps) and the WA of always
predicting the training split's majority class. Every run writes it as ``curves.png``; ``python -m
mosei_attn.aggregate`` as ``aggregate_curves.png``; W&B draws the same online (``python -m
mosei_attn.dashboard``).

Bars (``aggregate.png``): mean +- std over seeds of each tabulated metric, the paper's WA / UA as ticks on
the validation bars.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mosei_attn.reporting.paper import PAPER_SPLIT

#: Accuracy curves (columns of metrics.csv, fractions in [0, 1]), drawn in one panel.
CURVE_METRICS = ("val/wa", "val/ua")
#: Loss curves (columns of metrics.csv), drawn in the other panel.
LOSS_METRICS = ("train/loss", "val/loss")
#: Every per-epoch series a curves figure draws.
EPOCH_METRICS = (*LOSS_METRICS, *CURVE_METRICS)
#: The metric whose highest value picks the best epoch (the checkpoint callback's monitor).
BEST_BY = "val/ua"
#: Column titles of the usual metrics (others are shown by their metrics.json key).
SHORT_NAMES = {"wa": "WA", "ua": "UA", "f1_macro": "macro F1", "text_guidance": "text guidance"}


@dataclass(frozen=True)
class Curve:
    """One metric of one configuration: epochs (0-based), mean and std over seeds, and seeds per epoch."""

    epochs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray


def read_epochs(
    run_folder: str | os.PathLike, metrics: Sequence[str] = EPOCH_METRICS
) -> dict[str, dict[int, float]]:
    """metric -> {epoch: value} from a job's ``metrics.csv``, after the parts a resumed run keeps aside until
    it ends (``metrics.part*.csv``; the last row of an epoch wins, as after a resume); empty dicts when there
    is no file (a failed job, or fast_dev_run, which logs nothing)."""
    folder = Path(run_folder)
    out: dict[str, dict[int, float]] = {m: {} for m in metrics}
    for path in [*sorted(folder.glob("metrics.part*.csv")), folder / "metrics.csv"]:
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if not row.get("epoch"):
                    continue
                for m in metrics:
                    if row.get(m) not in (None, ""):
                        out[m][int(float(row["epoch"]))] = float(row[m])
    return out


def epoch_curves(
    groups: dict[str, Sequence[str | os.PathLike]], metrics: Sequence[str] = EPOCH_METRICS
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


@dataclass(frozen=True)
class DrawnCurves:
    """What :func:`plot_learning_curves` drew: the PNG, each line's (x = 1-based epoch, y) keyed by
    (label, metric), the best epoch (0-based, as in metrics.csv) per label, and the majority-class WA line."""

    path: Path
    lines: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    best_epoch: dict[str, int]
    majority_wa: float | None


def majority_wa(class_counts: Sequence[int], multilabel: bool = False) -> float | None:
    """The WA of always predicting the training split's commonest class (from the data meta's class counts);
    None for multilabel targets (counts of positives, no single class to predict) or no counts."""
    total = sum(class_counts)
    return None if multilabel or not total else max(class_counts) / total


def shared_majority_wa(run_metrics: Iterable[dict[str, Any]]) -> float | None:
    """The majority-class WA of runs' training split (their metrics.json ``class_counts_train`` and
    ``label_rule``); None when the runs disagree (different data) or none says."""
    values = {
        majority_wa(m["class_counts_train"], m.get("label_rule") == "multilabel")
        for m in run_metrics
        if m.get("class_counts_train")
    }
    return values.pop() if len(values) == 1 else None


def plot_learning_curves(
    curves: dict[str, dict[str, Curve]], path: Path, majority: float | None = None, title: str = ""
) -> DrawnCurves:
    """Losses (left) and val WA and UA (right, percent) over epochs (1-based), one colour per label, its
    +-1 std band where several runs, a dotted line at each label's best epoch, and ``majority`` (the
    majority-class WA, a fraction) as a grey line."""
    from matplotlib.ticker import MaxNLocator

    from mosei_attn.reporting.plots import plt, save_figure  # the plotting module sets the headless backend

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    lines: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    best: dict[str, int] = {}
    styles = {LOSS_METRICS[0]: "--", LOSS_METRICS[1]: "-", CURVE_METRICS[0]: "-", CURVE_METRICS[1]: "--"}
    for k, (label, by_metric) in enumerate(curves.items()):
        colour, prefix = f"C{k}", f"{label}: " if len(curves) > 1 else ""  # one run: its title names it
        for ax, metrics, scale in ((ax_loss, LOSS_METRICS, 1.0), (ax_acc, CURVE_METRICS, 100.0)):
            for m in metrics:
                if m not in by_metric:
                    continue
                c = by_metric[m]
                x, y = c.epochs + 1, scale * c.mean
                n = f", n={int(c.n.max())}" if c.n.max() > 1 else ""
                ax.plot(x, y, styles[m], color=colour, marker="o", markersize=3, label=f"{prefix}{m}{n}")
                band = ~np.isnan(c.std)
                ax.fill_between(
                    x[band], (y - scale * c.std)[band], (y + scale * c.std)[band], alpha=0.2, color=colour
                )
                lines[(label, m)] = (x, y)
        if BEST_BY in by_metric:
            c = by_metric[BEST_BY]
            best[label] = int(c.epochs[int(np.argmax(c.mean))])  # the first maximum, as the checkpoint keeps
            for ax in (ax_loss, ax_acc):
                ax.axvline(best[label] + 1, color=colour, linestyle=":", label=f"{prefix}best epoch")
    if majority is not None:
        ax_acc.axhline(100 * majority, color="grey", linewidth=1, label="majority-class WA")
    ax_loss.set(title="loss", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="validation WA and UA", xlabel="epoch", ylabel="%")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return DrawnCurves(save_figure(fig, path), lines, best, majority)


def run_curves(
    run_dir: str | os.PathLike, majority: float | None = None, title: str = ""
) -> DrawnCurves | None:
    """``curves.png`` of one run folder from its ``metrics.csv``; None when it logged no epoch (no CSV
    logger, or fast_dev_run)."""
    label = title or Path(run_dir).name
    curves = epoch_curves({label: [run_dir]})
    if not curves:
        return None
    return plot_learning_curves(curves, Path(run_dir) / "curves.png", majority, title=title)


def metric_title(metric: str) -> str:
    """``val/wa`` -> ``val WA``, ``test/shuffled/ua`` -> ``test shuffled UA``."""
    split, _, name = metric.rpartition("/")
    return f"{split.replace('/', ' ')} {SHORT_NAMES.get(name, name)}".strip()


def paper_position(metrics: Sequence[str]) -> int:
    """Where the paper's columns go: right after the last metric of the paper's split (else at the end)."""
    last = [i for i, m in enumerate(metrics) if m.startswith(f"{PAPER_SPLIT}/")]
    return last[-1] + 1 if last else len(metrics)


def plot_bars(rows: list[dict[str, Any]], metrics: Sequence[str], path: Path) -> Path:
    """Grouped bars (percent) per configuration with +-1 std error bars; the paper's WA / UA as black
    ticks."""
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
