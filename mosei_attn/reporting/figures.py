"""A finished run's figures from its model and data: attention over a few fixed validation segments
(figure 2) and log scaling of one segment's spectrogram (figure 3); one prediction's figure; sending figures
to the loggers."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mosei_attn.data.features.audio import read_audio, resample
from mosei_attn.data.features.extractors import AudioFeatures
from mosei_attn.reporting import plots

log = logging.getLogger(__name__)

#: Fixed validation segments drawn in figure 2 after each run.
N_EXAMPLES = 3


def example_indices(targets: np.ndarray, n: int = N_EXAMPLES) -> list[int]:
    """Positions of ``n`` fixed segments in a split: the first segment of each of the ``n`` most common
    classes (ties: the lower class index), then the earliest others when there are fewer classes.

    ``targets``: class indices (N,), or 0/1 rows (N, E) for multilabel (keyed by the first present emotion).
    """
    t = np.asarray(targets)
    if len(t) == 0 or n <= 0:
        return []
    keys = t.argmax(axis=1) if t.ndim == 2 else t.astype(np.int64)
    classes, first, counts = np.unique(keys, return_index=True, return_counts=True)
    order = sorted(range(len(classes)), key=lambda k: (-counts[k], classes[k]))
    picked = [int(first[k]) for k in order[:n]]
    picked += [i for i in range(len(t)) if i not in picked][: n - len(picked)]
    return picked


def _target_name(target: torch.Tensor, names: tuple[str, ...]) -> str:
    if target.ndim == 0:
        return names[int(target)]
    return "+".join(n for n, t in zip(names, target.tolist(), strict=True) if t > 0) or "none"


def true_classes(target: torch.Tensor) -> tuple[int, ...]:
    """Indices of the true classes of one target: a class index, or a 0/1 row (multilabel)."""
    if target.ndim == 0:
        return (int(target),)
    return tuple(int(i) for i in torch.nonzero(target > 0).flatten())


@torch.no_grad()
def attention_examples(
    model: Any,
    dataset: Any,
    out_dir: Path,
    n: int = N_EXAMPLES,
    hop_seconds: float | None = None,
    max_hz: float | None = None,
    annotate: Callable[[dict[str, Any]], tuple[str, np.ndarray | None, str]] | None = None,
) -> list[Path]:
    """Figure 2 (``attention_<k>.png``) for the fixed segments ``example_indices`` picks from ``dataset``;
    none for models without attention. ``annotate`` (the DataModule's, from its extras provider) gives
    each item a title tag, frames to highlight (T,) and their legend label."""
    paths: list[Path] = []
    model.eval()
    cache, names = dataset.cache, model.meta.emotion_names
    for k, i in enumerate(example_indices(dataset.targets, n)):
        item = dataset[i]
        out = model.predict_step({key: v[None].to(model.device) for key, v in item.items()}, 0)
        if out["attention"] is None:
            return paths
        row, attention = int(item["index"]), out["attention"][0].float().cpu().numpy()  # (m, n)
        probs, weights = out["probs"][0].cpu().numpy(), out["weights"][0].float().cpu().numpy()  # (C,), (T,)
        tag, highlight, highlight_label = annotate(item) if annotate else ("", None, "")
        tag = f" [{tag}]" if tag else ""
        title = (
            f"{cache.segment_id[row]}{tag}: true {_target_name(item['target'], names)}, "
            f"predicted {names[int(probs.argmax())]} ({probs.max():.2f})"
        )
        paths.append(
            plots.plot_prediction(
                item["spec"][0].numpy(),
                out_dir / f"attention_{k}.png",
                attention=attention,
                words=str(cache.text[row]).split(),
                probs=probs,
                names=names,
                spec_len=int(item["spec_len"]),
                n_words=word_columns(int(item["word_len"]), item["words"].shape[0], attention.shape[1]),
                hop_seconds=hop_seconds,
                max_hz=max_hz,
                multilabel=model.meta.multilabel,
                title=title,
                highlight=highlight,
                highlight_label=highlight_label,
                weights=weights,
                true=true_classes(item["target"]),
            )
        )
    return paths


def word_columns(word_len: int, max_words: int, n_columns: int) -> int:
    """How many of the attention matrix's ``n_columns`` word columns hold real words (the text CNN pools
    ``max_words`` positions into ``n_columns``)."""
    return min(n_columns, int(np.ceil(word_len / (max_words / n_columns))))


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
    n_words = None if attention is None else word_columns(word_len, max_words, attention.shape[1])
    return plots.plot_prediction(spec, path, attention=attention, words=words, n_words=n_words, **kw)


def log_scaling_figure(
    settings: AudioFeatures, audio: np.ndarray, sr: int, path: Path, title: str = ""
) -> Path:
    """Figure 3 for ``audio`` (samples,) or (samples, channels) at ``sr`` Hz: the linear-magnitude STFT
    beside the model's dB-scaled [0, 1] input, both computed with the model's feature ``settings``."""
    x = np.asarray(audio, dtype=np.float32)
    x = x.mean(axis=1) if x.ndim == 2 else x
    scaled, frames = settings.compute(x, sr)  # (F, T), the model's input
    power = settings.power_spectrogram(resample(x, sr, settings.sample_rate))  # (frames, n_fft/2 + 1)
    magnitude = np.sqrt(power[: settings.max_frames]).T  # (n_fft/2 + 1, frames), linear
    return plots.plot_log_scaling(
        magnitude,
        scaled,
        path,
        settings.sample_rate,
        settings.hop_length / settings.sample_rate,
        frames=frames,
        top_db=settings.top_db,
        title=title,
    )


def segment_audio(cache: Any, row: int) -> tuple[np.ndarray, int]:
    """The audio (samples,) and its rate of the segment in ``row`` of a feature cache: its span of the audio
    file the cache records."""
    start, end = (float(cache.column(k)[row]) for k in ("start", "end"))
    return read_audio(cache.audio[row], start, end)


def training_figures(model: Any, datamodule: Any, out_dir: Path, n: int = N_EXAMPLES) -> list[Path]:
    """Figures 2 and 3 for the fixed validation segments of a finished run (confusion: ``write_report``).

    Figure 3 needs the segment's audio, from the file the cache records: when it cannot be read (the cache
    was built elsewhere) it is skipped with a warning rather than failing the run.
    """
    audio, val = datamodule.audio, datamodule.dataset("val")
    scale = {"hop_seconds": audio.hop_length / audio.sample_rate, "max_hz": audio.sample_rate / 2}
    paths = attention_examples(
        model, val, out_dir, n=n, annotate=getattr(datamodule, "annotate", None), **scale
    )
    picked = example_indices(val.targets, 1)
    if picked:
        row = int(val.rows[picked[0]])
        sid = str(val.cache.segment_id[row])
        try:
            wav, sr = segment_audio(val.cache, row)
            paths.append(
                log_scaling_figure(
                    audio,
                    wav,
                    sr,
                    out_dir / "spectrogram_scaling.png",
                    title=f"{sid}: log scaling of the spectrogram",
                )
            )
        except (OSError, ValueError, LookupError) as e:
            log.warning("figure 3 (spectrogram before/after log scaling) skipped: %s", e)
    return paths


def log_figures(loggers: list[Any], paths: list[Path]) -> None:
    """Send figure PNGs to the loggers that take images (W&B, TensorBoard)."""
    for lg in loggers:
        kind = lg.__class__.__name__
        for p in paths:
            if kind == "WandbLogger":
                lg.log_image(key=f"figures/{p.stem}", images=[str(p)])
            elif kind == "TensorBoardLogger":
                import matplotlib.image as mpimg

                img = mpimg.imread(p)[..., :3]
                lg.experiment.add_image(f"figures/{p.stem}", img, dataformats="HWC")


def log_best_summary(loggers: list[Any], metrics: dict[str, Any], split: str = "val") -> dict[str, float]:
    """Put the best checkpoint's figures on ``split`` into each W&B run's summary as ``best/val/wa`` ... and
    ``best/epoch`` (1-based): WA, UA ... at the best epoch, the value a W&B bar, scatter or table shows for a
    run, so validation and test compare the same checkpoint (``wandb.define_metric`` summarises one metric
    at its own best, not another at the best of ``val/ua``). Returns the figures written."""
    figures = {
        f"best/{k}": v for k, v in metrics.items() if k.startswith(f"{split}/") and isinstance(v, float)
    }
    if figures and metrics.get("checkpoint_epoch") is not None:
        figures["best/epoch"] = int(metrics["checkpoint_epoch"]) + 1
    for lg in loggers:
        if lg.__class__.__name__ == "WandbLogger" and figures:
            lg.experiment.summary.update(figures)
    return figures
