"""Figures: confusion matrices (paper figures 5-6), attention over a segment (figure 2), the spectrogram
before and after log scaling (figure 3), and a prediction's probabilities.

Axes are in seconds and Hz when the caller gives ``hop_seconds`` / ``max_hz``, else in frames and bins.
Every function writes one PNG (under a temporary name, then renamed) and returns its path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and loggers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mosei_attn.files import atomic_path

DPI = 110
SPEC_CMAP, ATTENTION_CMAP, CONFUSION_CMAP = "magma", "viridis", "Blues"
#: Colorbar width as a fraction of its axes (matplotlib's usual value for square-ish panels).
COLORBAR_FRACTION = 0.046


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Save ``fig`` to ``path`` atomically (format from the suffix) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or None, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


@dataclass(frozen=True)
class DrawnConfusion:
    """What :func:`plot_confusion` drew: the PNG, the title, the counts and the row-normalised matrix, the
    colorbars' labels, and whether the right panel's tick labels overlap the left panel's colorbar."""

    path: Path
    title: str
    counts: np.ndarray
    share: np.ndarray
    colorbar_labels: tuple[str, ...]
    overlap: bool


def plot_confusion(
    confusion: np.ndarray, names: Sequence[str], path: str | os.PathLike, title: str = ""
) -> DrawnConfusion:
    """Counts and row-normalised confusion matrices side by side (rows true, columns predicted), each with
    its labelled colorbar; constrained layout keeps the right panel's labels off the left colorbar."""
    cm = np.asarray(confusion, dtype=np.float64)
    share = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    bars = []
    panels = (
        (axes[0], cm, "{:.0f}", "counts", "segments"),
        (axes[1], share, "{:.2f}", "recall (row-normalised)", "share of the true class"),
    )
    for ax, mat, fmt, label, bar_label in panels:
        im = ax.imshow(mat, cmap=CONFUSION_CMAP, vmin=0)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(label)
        top = mat.max() if mat.size else 1
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                colour = "white" if mat[i, j] > 0.6 * top else "black"
                ax.text(j, i, fmt.format(mat[i, j]), ha="center", va="center", fontsize=8, color=colour)
        bars.append(fig.colorbar(im, ax=ax, fraction=COLORBAR_FRACTION, label=bar_label))
    if title:
        fig.suptitle(title)
    fig.draw_without_rendering()  # lays the panels out, as saving will
    left_bar = bars[0].ax.get_tightbbox()
    overlap = any(t.get_window_extent().overlaps(left_bar) for t in axes[1].get_yticklabels() if t.get_text())
    labels = tuple(b.ax.get_ylabel() for b in bars)
    return DrawnConfusion(save_figure(fig, path), title, cm, share, labels, overlap)


def word_column_labels(words: Sequence[str], n_columns: int, n_real: int) -> list[str]:
    """Label each attention column with the words it pools (a column covers len(words)/n words)."""
    if n_real <= 0:
        return []
    per = max(1, int(np.ceil(len(words) / max(n_real, 1)))) if words else 1
    return [" ".join(words[i * per : (i + 1) * per]) for i in range(min(n_columns, n_real))]


def _image(
    ax: plt.Axes, img: np.ndarray, seconds: float, top: float, cmap: str, **kw
) -> matplotlib.image.AxesImage:
    """``img`` (rows, frames) with time 0..seconds across and 0..top up (frequency, origin low)."""
    return ax.imshow(
        img,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        interpolation="nearest",
        extent=(0, max(seconds, 1e-9), 0, top),
        **kw,
    )


def _spectrogram_panel(
    ax: plt.Axes, spec: np.ndarray, frames: int, hop_seconds: float | None, max_hz: float | None
) -> matplotlib.image.AxesImage:
    """The model's [0, 1] spectrogram (F, T), its first ``frames`` frames (at least one)."""
    frames = max(1, min(int(frames), spec.shape[1]))
    im = _image(
        ax, spec[:, :frames], frames * (hop_seconds or 1), max_hz or spec.shape[0], SPEC_CMAP, vmin=0, vmax=1
    )
    ax.set_xlabel("time (s)" if hop_seconds else "frame")
    ax.set_ylabel("frequency (Hz)" if max_hz else "frequency bin")
    return im


def _probability_panel(
    ax: plt.Axes, probs: Sequence[float], names: Sequence[str], multilabel: bool, true: Sequence[int] = ()
) -> None:
    """Bars of the emotion probabilities, the predicted one orange; the true classes ``true`` (indices)
    outlined in black and named "(true)"."""
    p = np.asarray(probs, dtype=np.float64)
    labels = list(names) if len(names) == len(p) else [str(i) for i in range(len(p))]
    colors = ["tab:orange" if i == int(p.argmax()) else "tab:blue" for i in range(len(p))]
    edges = ["black" if i in true else "none" for i in range(len(p))]
    ax.barh(range(len(p)), p, color=colors, edgecolor=edges, linewidth=2)
    ax.set_yticks(range(len(p)), [f"{n} (true)" if i in true else n for i, n in enumerate(labels)])
    ax.invert_yaxis()  # first emotion on top, as in the tables
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability (per emotion, sigmoid)" if multilabel else "probability (softmax)")
    for i, v in enumerate(p):
        ax.text(min(v + 0.02, 0.8), i, f"{v:.2f}", va="center", fontsize=8)


def marked_runs(marks: np.ndarray, frames: int) -> list[tuple[int, int]]:
    """The [first, last) frame runs where ``marks`` (T,) is True, within the first ``frames`` frames."""
    marks = np.concatenate([[False], np.asarray(marks[:frames], dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(marks.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _mark_spans(axes: Sequence[plt.Axes], runs: list[tuple[int, int]], hop: float, label: str) -> None:
    """Shade highlighted spans (labelled ``label`` in the legend): across the spectrogram panel's time axis
    (vertical bands) and across the attention matrix's time rows (horizontal bands)."""
    for k, (a, b) in enumerate(runs):
        axes[0].axvspan(a * hop, b * hop, color="white", alpha=0.25, lw=0, label=label if k == 0 else None)
        for t in (a, b):
            axes[0].axvline(t * hop, color="white", lw=0.8, ls="--")
        if len(axes) > 1:  # the outline of the same span on the matrix's time rows
            outline = {"facecolor": "none", "edgecolor": "red", "lw": 1.2}
            axes[1].axhspan(a * hop, b * hop, **outline, label=f"{label} (rows)" if k == 0 else None)
    for ax, where in zip(axes[:2] if runs else [], ("upper right", "lower right"), strict=False):
        ax.legend(loc=where, fontsize=7, framealpha=0.6)


def _attention_panels(
    fig: plt.Figure,
    grid: Any,
    ax0: plt.Axes,
    attention: np.ndarray,
    T: int,
    frames: int,
    words: Sequence[str],
    n_words: int | None,
    hop_seconds: float | None,
    weights: np.ndarray | None = None,
) -> plt.Axes:
    """The attention matrix (m, n) below the spectrogram panel ``ax0`` (returned), cropped to the ``frames``
    real frames (of ``T``) and the ``n_words`` real word columns, and on ``ax0`` the weight the model
    applies to each frame, ``weights`` (T,) (the model's own,
    :class:`~mosei_attn.models.output.NetOutput`)."""
    m, n = attention.shape
    per_row = max(1, T // m)  # frames per attention time position
    real_t = min(m, max(1, int(np.ceil(frames / per_row))))
    real_w = n if n_words is None else min(n, max(0, int(n_words)))
    att = attention[:real_t, :real_w]  # (real_t, real_w)
    step = per_row * (hop_seconds or 1)
    if real_w and weights is not None:  # piecewise constant: each time position's weight over its frames
        ax0b = ax0.twinx()
        w = np.asarray(weights, dtype=np.float32)[:frames]
        edges = np.arange(frames + 1) * (hop_seconds or 1)
        ax0b.plot(edges, np.append(w, w[-1]), drawstyle="steps-post", color="cyan", lw=1.5)
        ax0b.set_ylabel("weight on the frames (alpha, mean 1)")
        ax0.set_xlim(0, frames * (hop_seconds or 1))
    ax1 = fig.add_subplot(grid[1, 0])
    shown = att if real_w else np.zeros((real_t, 1))
    im1 = ax1.imshow(
        shown,
        aspect="auto",
        cmap=ATTENTION_CMAP,
        interpolation="nearest",
        vmin=0,
        vmax=None if shown.max() > 0 else 1,
        extent=(-0.5, shown.shape[1] - 0.5, real_t * step, 0),
    )
    labels = word_column_labels(list(words), shown.shape[1], real_w)
    ax1.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    if not real_w:
        ax1.text(0, real_t * step / 2, "no words", ha="center", va="center", color="white")
    ax1.set_ylabel("time (s)" if hop_seconds else "frame")
    per = max(1, int(np.ceil(len(words) / real_w))) if words and real_w else 1
    pooled = f"pooled word {'pairs' if per == 2 else 'groups'} ({per} words each)" if per > 1 else "words"
    ax1.set_xlabel(f"{pooled} after the text CNN (each column a softmax over time)")
    fig.colorbar(im1, ax=ax1, fraction=COLORBAR_FRACTION, label="attention")
    return ax1


def plot_prediction(
    spec: np.ndarray,
    path: str | os.PathLike,
    attention: np.ndarray | None = None,
    words: Sequence[str] = (),
    probs: Sequence[float] | None = None,
    names: Sequence[str] = (),
    spec_len: int | None = None,
    n_words: int | None = None,
    hop_seconds: float | None = None,
    max_hz: float | None = None,
    multilabel: bool = False,
    title: str = "",
    highlight: np.ndarray | None = None,
    highlight_label: str = "",
    weights: np.ndarray | None = None,
    true: Sequence[int] = (),
) -> Path:
    """One segment: its spectrogram (F, T) with the attention weight over time, the attention matrix
    (m time rows x n word columns, figure 2) below it, and the emotion probabilities beside them.

    ``attention`` None (shallow models) leaves out both attention panels; ``probs`` None the bar chart.
    The attention is cropped to the real time positions (``spec_len`` frames) and real word columns
    (``n_words``); a segment with no words shows an empty matrix, one with no frames a single frame.
    ``weights`` (T,) is the weight the model applied to each frame (drawn over the spectrogram).
    ``highlight`` (T,) bool marks frames on the time axes (e.g. a corpus's known spans, from the data's
    extras provider), named ``highlight_label`` in the legend. ``true``: the true classes' indices, marked
    in the probability bars.
    """
    T = spec.shape[1]
    frames = T if spec_len is None else max(1, int(spec_len))
    rows = 1 if attention is None else 2
    cols = 1 if probs is None else 2
    columns = 0 if attention is None else attention.shape[1] if n_words is None else n_words
    width = max(6, 0.35 * columns + 4) + (3.5 if probs is not None else 0)  # inches: room for word labels
    fig = plt.figure(figsize=(width, 3.5 * rows + 0.5), layout="constrained")
    grid = fig.add_gridspec(rows, cols, height_ratios=[1, 2][:rows], width_ratios=[3, 1][:cols])
    ax0 = fig.add_subplot(grid[0, 0])
    im = _spectrogram_panel(ax0, spec, frames, hop_seconds, max_hz)
    ax0.set_title("model input: log-scaled spectrogram", fontsize=9)
    axes = [ax0]
    if attention is None:
        fig.colorbar(im, ax=ax0, fraction=COLORBAR_FRACTION, label="scaled dB")
    else:
        axes.append(
            _attention_panels(fig, grid, ax0, attention, T, frames, words, n_words, hop_seconds, weights)
        )
    if highlight is not None:
        _mark_spans(axes, marked_runs(highlight, frames), hop_seconds or 1, highlight_label or "highlighted")
    if probs is not None:
        _probability_panel(fig.add_subplot(grid[:, 1]), probs, names, multilabel, true)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_log_scaling(
    magnitude: np.ndarray,
    scaled: np.ndarray,
    path: str | os.PathLike,
    sample_rate: int,
    hop_seconds: float,
    frames: int | None = None,
    top_db: float | None = None,
    title: str = "",
) -> Path:
    """Figure 3: the linear-magnitude STFT (bins, frames) beside the model's dB-scaled [0, 1] input (F, T).

    Both span 0 to ``sample_rate`` / 2 Hz and their first ``frames`` frames (default: all of ``magnitude``).
    """
    n = magnitude.shape[1] if frames is None else int(frames)
    n = max(1, min(n, magnitude.shape[1], scaled.shape[1]))
    seconds, nyquist = n * hop_seconds, sample_rate / 2
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    im0 = _image(ax0, magnitude[:, :n], seconds, nyquist, SPEC_CMAP, vmin=0)
    ax0.set_title("before: |STFT| magnitude, linear")
    fig.colorbar(im0, ax=ax0, fraction=COLORBAR_FRACTION, label="magnitude (linear)")
    im1 = _image(ax1, scaled[:, :n], seconds, nyquist, SPEC_CMAP, vmin=0, vmax=1)
    floor = f"-{top_db:g} dB" if top_db else "floor"
    ax1.set_title(f"after: power in dB, {floor} -> 0, max -> 1")
    fig.colorbar(im1, ax=ax1, fraction=COLORBAR_FRACTION, label="scaled dB (model input)")
    for ax in (ax0, ax1):
        ax.set_xlabel("time (s)")
    ax0.set_ylabel("frequency (Hz)")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
