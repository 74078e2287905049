"""What a finished run leaves behind: the paper's table, metrics.json, and its figures: confusion matrices
(figures 5-6), attention over a few fixed validation segments (figure 2), log scaling (figure 3)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mosei_attn import plots
from mosei_attn.data.audio import read_audio, resample
from mosei_attn.data.features import AudioFeatures
from mosei_attn.metrics import format_table
from mosei_attn.utils import write_json

log = logging.getLogger(__name__)

#: Fixed validation segments drawn in figure 2 after each run.
N_EXAMPLES = 3

#: The paper's validation figures (Tables 1-2; real MOSEI, its validation split), shown beside ours.
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "shallow": {"wa": 0.8311, "ua": 0.7723},
    "attention": {"wa": 0.8889, "ua": 0.8408},
}
#: The split the paper's figures are on: ours from the same split are the ones to set beside them.
PAPER_SPLIT = "val"
#: The paper's per-class (precision, recall, F1) of Tables 1-2, by our emotion names.
PAPER_PER_CLASS: dict[str, dict[str, tuple[float, float, float]]] = {
    "shallow": {
        "sad": (0.82, 0.65, 0.73),
        "happy": (0.93, 0.88, 0.91),
        "anger": (0.75, 0.90, 0.82),
        "disgust": (0.75, 0.75, 0.75),
        "surprise": (0.98, 0.55, 0.70),
        "fear": (0.83, 0.63, 0.72),
    },
    "attention": {
        "sad": (0.88, 0.86, 0.87),
        "happy": (0.92, 0.92, 0.92),
        "anger": (0.85, 0.92, 0.88),
        "disgust": (0.88, 0.81, 0.84),
        "surprise": (0.98, 0.62, 0.76),
        "fear": (0.94, 0.65, 0.77),
    },
}


def paper_comparison(results: dict[str, Any], names: tuple[str, ...], model_name: str) -> str:
    """Our figures on the validation split beside the paper's (per class when the classes are MOSEI's six and
    the figures single-label); empty when the paper has no such model."""
    paper, per_class = PAPER_RESULTS.get(model_name), PAPER_PER_CLASS.get(model_name, {})
    if not paper:
        return ""
    lines = [f"ours (validation) beside the paper ({model_name}, real MOSEI validation, Tables 1-2):"]
    if set(names) == set(per_class) and "confusion" in results:
        width = max(len(n) for n in names)
        lines.append(f"{'':<{width}}  {'precision':>15}  {'recall':>15}  {'f-1 score':>15}")
        lines.append(f"{'':<{width}}" + "  {:>7} {:>7}".format("ours", "paper") * 3)
        for i, n in enumerate(names):
            ours = (results["precision"][i], results["recall"][i], results["f1"][i])
            lines.append(
                f"{n:<{width}}"
                + "".join(f"  {o:>7.2f} {p:>7.2f}" for o, p in zip(ours, per_class[n], strict=True))
            )
    lines.append(f"class accuracy (UA) {100 * float(results['ua']):6.2f}%  paper {100 * paper['ua']:.2f}%")
    lines.append(f"overall acc. (WA)   {100 * float(results['wa']):6.2f}%  paper {100 * paper['wa']:.2f}%")
    return "\n".join(lines)


def summarise(results: dict[str, Any], names: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """Flat JSON-ready figures (``test/wa`` ...) from a module's results dict."""
    out: dict[str, Any] = {}
    for k, v in results.items():
        if isinstance(v, np.ndarray | torch.Tensor):
            v = np.asarray(v).tolist()
        out[f"{prefix}/{k}"] = v
    out[f"{prefix}/emotion_names"] = list(names)
    return out


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


@torch.no_grad()
def attention_examples(
    model: Any,
    dataset: Any,
    out_dir: Path,
    n: int = N_EXAMPLES,
    hop_seconds: float | None = None,
    max_hz: float | None = None,
) -> list[Path]:
    """Figure 2 (``attention_<k>.png``) for the fixed segments ``example_indices`` picks from ``dataset``;
    none for models without attention."""
    paths: list[Path] = []
    model.eval()
    cache, names = dataset.cache, model.meta.emotion_names
    for k, i in enumerate(example_indices(dataset.targets, n)):
        item = dataset[i]
        out = model.predict_step({key: v[None].to(model.device) for key, v in item.items()}, 0)
        if out["attention"] is None:
            return paths
        row, attention = int(item["index"]), out["attention"][0].float().cpu().numpy()  # (m, n)
        probs = out["probs"][0].cpu().numpy()
        title = (
            f"{cache.segment_id[row]}: true {_target_name(item['target'], names)}, "
            f"predicted {names[int(probs.argmax())]} ({probs.max():.2f})"
        )
        paths.append(plots.plot_prediction(
            item["spec"][0].numpy(), out_dir / f"attention_{k}.png", attention=attention,
            words=str(cache.text[row]).split(), probs=probs, names=names, spec_len=int(item["spec_len"]),
            n_words=word_columns(int(item["word_len"]), item["words"].shape[0], attention.shape[1]),
            hop_seconds=hop_seconds, max_hz=max_hz, multilabel=model.meta.multilabel, title=title,
        ))  # fmt: skip
    return paths


def word_columns(word_len: int, max_words: int, n_columns: int) -> int:
    """How many of the attention matrix's ``n_columns`` word columns hold real words (the text CNN pools
    ``max_words`` positions into ``n_columns``)."""
    return min(n_columns, int(np.ceil(word_len / (max_words / n_columns))))


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


def segment_audio(datamodule: Any, segment_id: str) -> tuple[np.ndarray, int]:
    """The audio (samples,) and its rate of one cached segment, found again through the data's corpus."""
    with contextlib.closing(datamodule.corpus().iter_segments()) as segments:
        for seg in segments:
            if seg.segment_id == segment_id:
                return read_audio(seg.audio_path, seg.start, seg.end)
    raise LookupError(f"segment {segment_id} is no longer in the corpus")


def training_figures(model: Any, datamodule: Any, out_dir: Path, n: int = N_EXAMPLES) -> list[Path]:
    """Figures 2 and 3 for the fixed validation segments of a finished run (confusion: ``write_report``).

    Figure 3 needs the segment's audio: when it cannot be read (the cache was built elsewhere) it is
    skipped with a warning rather than failing the run.
    """
    audio, val = datamodule.audio, datamodule.dataset("val")
    scale = {"hop_seconds": audio.hop_length / audio.sample_rate, "max_hz": audio.sample_rate / 2}
    paths = attention_examples(model, val, out_dir, n=n, **scale)
    picked = example_indices(val.targets, 1)
    if picked:
        sid = str(val.cache.segment_id[int(val.rows[picked[0]])])
        try:
            wav, sr = segment_audio(datamodule, sid)
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


def write_report(
    tables: dict[str, dict[str, Any]],
    names: tuple[str, ...],
    out_dir: Path,
    model_name: str,
    extra: dict[str, Any] | None = None,
    title: str = "",
) -> tuple[dict[str, Any], Path]:
    """Print the paper's table for each split of ``tables`` (split -> a module's results dict; the paper's
    figures beside the validation split's), save a confusion matrix PNG per split and one metrics.json.

    metrics.json holds one flat table per split: every key of a split's results as ``<split>/<key>`` (so a
    key the module adds to its results joins both tables), plus ``splits``, ``model``, ``figures``,
    ``paper`` (its figures and the split they are on) and ``extra``."""
    figures = {}
    metrics: dict[str, Any] = {}
    for split, results in tables.items():
        print(f"\n{split} split, {title} ({model_name})\n{format_table(results, names)}")
        if split == PAPER_SPLIT and (comparison := paper_comparison(results, names, model_name)):
            print(comparison)
        if "confusion" in results:
            figures[f"confusion_{split}"] = str(
                plots.plot_confusion(
                    results["confusion"],
                    names,
                    out_dir / f"confusion_{split}.png",
                    title=f"{model_name}: {split}",
                )
            )
        metrics |= summarise(results, names, split)
    paper = PAPER_RESULTS.get(model_name)
    paper = paper | {"split": PAPER_SPLIT, "data": "real MOSEI"} if paper else None
    metrics |= {"splits": list(tables), "model": model_name, "figures": figures, "paper": paper}
    metrics |= extra or {}
    return metrics, write_json(out_dir / "metrics.json", metrics)


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


def log_best_summary(
    loggers: list[Any], metrics: dict[str, Any], split: str = PAPER_SPLIT
) -> dict[str, float]:
    """Put the best checkpoint's figures on ``split`` (``val/wa`` ...) into each W&B run's summary, the value a
    W&B bar or table shows for a run, so it compares the same checkpoint on validation and test (the history,
    the per-epoch curve, is untouched). Returns the figures written."""
    figures = {k: v for k, v in metrics.items() if k.startswith(f"{split}/") and isinstance(v, float)}
    for lg in loggers:
        if lg.__class__.__name__ == "WandbLogger" and figures:
            lg.experiment.summary.update(figures)
    return figures
