"""What a run reports, reached through one door, :class:`RunReport`: the paper's table, ``metrics.json``,
the confusion matrix (figures 5-6), attention examples (figure 2), log scaling (figure 3), and the figure of
one prediction. ``plots`` draws, ``table`` and ``figures`` decide what to draw and where it goes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RunReport"]


class RunReport:
    """The report of one model's run, written into ``out_dir``."""

    def __init__(self, out_dir: str | os.PathLike, model_name: str, emotion_names: Sequence[str]):
        self.out_dir, self.model_name, self.emotion_names = Path(out_dir), model_name, tuple(emotion_names)

    def metrics(
        self, tables: dict[str, dict[str, Any]], extra: dict[str, Any] | None = None, title: str = ""
    ) -> dict[str, Any]:
        """Print the paper's table for each split of ``tables`` (split -> results; the paper's figures beside
        the validation split's) and save ``metrics.json`` and ``confusion_<split>.png``; returns what
        ``metrics.json`` holds (``val/wa``, ``test/wa`` ... plus ``extra``)."""
        from mosei_attn.reporting.run_report import write_report

        metrics, _ = write_report(
            tables, self.emotion_names, self.out_dir, self.model_name, extra=extra, title=title
        )
        return metrics

    def training_figures(self, model: Any, datamodule: Any) -> list[Path]:
        """Figures 2 and 3 of a finished run, drawn for fixed validation segments."""
        from mosei_attn.reporting.figures import training_figures

        return training_figures(model, datamodule, self.out_dir)

    def curves(self, meta: Any, title: str = "") -> Path | None:
        """``curves.png`` of the run (losses, val WA and UA per epoch from its metrics.csv, best epoch marked,
        the majority-class WA of ``meta``'s training split as a line); None when no epoch was logged."""
        from mosei_attn.reporting.sweep_plots import majority_wa, run_curves

        drawn = run_curves(self.out_dir, majority_wa(meta.class_counts, meta.multilabel), title=title)
        return drawn.path if drawn else None

    @staticmethod
    def send_figures(loggers: Sequence[Any], paths: Sequence[str | os.PathLike]) -> None:
        """Send figure PNGs to the loggers that take images (W&B, TensorBoard)."""
        from mosei_attn.reporting.figures import log_figures

        log_figures(list(loggers), [Path(p) for p in paths])

    @staticmethod
    def send_best_summary(loggers: Sequence[Any], metrics: dict[str, Any]) -> dict[str, float]:
        """Put the best checkpoint's validation figures into each W&B run's summary (not its history)."""
        from mosei_attn.reporting.figures import log_best_summary

        return log_best_summary(list(loggers), metrics)

    @staticmethod
    def prediction_figure(
        path: str | os.PathLike,
        spec: np.ndarray,
        attention: np.ndarray | None,
        words: Sequence[str],
        word_len: int,
        max_words: int,
        **kw: Any,
    ) -> Path:
        """One clip's figure: spectrogram (F, T), attention over time and against the words (figure 2), and
        the probabilities; ``kw`` as :func:`mosei_attn.reporting.plots.plot_prediction`."""
        from mosei_attn.reporting import plots
        from mosei_attn.reporting.figures import word_columns

        n_words = None if attention is None else word_columns(word_len, max_words, attention.shape[1])
        return plots.plot_prediction(spec, path, attention=attention, words=words, n_words=n_words, **kw)
