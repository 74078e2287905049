"""Figures: confusion matrices (paper figures 5-6) and attention over a segment (figure 2)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and loggers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_confusion(
    confusion: np.ndarray, names: Sequence[str], path: str | os.PathLike, title: str = ""
) -> Path:
    """Counts and row-normalised confusion matrices side by side (rows true, columns predicted)."""
    cm = np.asarray(confusion, dtype=np.float64)
    norm = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, mat, fmt, label in ((axes[0], cm, "{:.0f}", "count"), (axes[1], norm, "{:.2f}", "recall")):
        im = ax.imshow(mat, cmap="Blues", vmin=0)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(label)
        top = mat.max() if mat.size else 1
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                ax.text(j, i, fmt.format(mat[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if mat[i, j] > 0.6 * top else "black")
        fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def word_column_labels(words: Sequence[str], n_columns: int, n_real: int) -> list[str]:
    """Label each attention column with the words it pools (a column covers len(words)/n words)."""
    if n_real <= 0:
        return []
    per = max(1, int(np.ceil(len(words) / max(n_real, 1)))) if words else 1
    return [" ".join(words[i * per : (i + 1) * per]) for i in range(min(n_columns, n_real))]


def plot_attention(
    spec: np.ndarray,
    attention: np.ndarray,
    words: Sequence[str],
    path: str | os.PathLike,
    spec_len: int | None = None,
    n_words: int | None = None,
    hop_seconds: float | None = None,
    title: str = "",
) -> Path:
    """Spectrogram (F, T) above the attention matrix (m time rows x n word columns, figure 2).

    ``attention`` is cropped to the real time positions and real word columns when lengths are given.
    """
    m, n = attention.shape
    T = spec.shape[1]
    per_row = T // m
    real_t = m if spec_len is None else max(1, int(np.ceil(spec_len / per_row)))
    real_w = n if n_words is None else max(0, int(n_words))
    att = attention[:real_t, :real_w] if real_w else attention[:real_t, :1] * 0
    fig, (ax0, ax1) = plt.subplots(
        2, 1, figsize=(max(6, 0.35 * att.shape[1] + 4), 8), gridspec_kw={"height_ratios": [1, 2]}
    )
    frames = real_t * per_row if spec_len is None else spec_len
    extent_t = frames * hop_seconds if hop_seconds else frames
    ax0.imshow(spec[:, :frames], origin="lower", aspect="auto", cmap="magma",
               extent=(0, extent_t, 0, spec.shape[0]))
    ax0.set_xlabel("time (s)" if hop_seconds else "frame")
    ax0.set_ylabel("frequency bin")
    weights = att.sum(axis=1)
    ax0b = ax0.twinx()
    ax0b.plot((np.arange(real_t) + 0.5) * per_row * (hop_seconds or 1), weights, color="cyan", lw=1.5)
    ax0b.set_ylabel("attention (sum over words)")
    im = ax1.imshow(att, aspect="auto", cmap="viridis", interpolation="nearest")
    labels = word_column_labels(list(words), att.shape[1], real_w)
    ax1.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax1.set_ylabel("time position (rows)")
    ax1.set_xlabel("words (columns)")
    fig.colorbar(im, ax=ax1, fraction=0.046)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
