"""The paper's table (printed), ``metrics.json`` and the confusion matrices of a run's splits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mosei_attn.files import write_json
from mosei_attn.models.text_guidance import PREFIX as SHUFFLED
from mosei_attn.reporting import plots
from mosei_attn.reporting.paper import PAPER_RESULTS, PAPER_SPLIT, paper_comparison


def flat_metrics(results: dict[str, Any], names: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """Flat JSON-ready figures (``test/wa`` ...) from a module's results dict."""
    out: dict[str, Any] = {}
    for k, v in results.items():
        if isinstance(v, np.ndarray | torch.Tensor):
            v = np.asarray(v).tolist()
        out[f"{prefix}/{k}"] = v
    out[f"{prefix}/emotion_names"] = list(names)
    return out


def format_table(results: dict[str, Any], emotion_names: Sequence[str]) -> str:
    """The paper's Table 1/2 as plain text: precision / recall / F1 per emotion, their average, then
    class accuracy (UA) and overall accuracy (WA). ``results`` from ``compute()`` or :func:`to_numpy`."""
    res = {k: np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in results.items()}
    if len(emotion_names) != len(res["f1"]):
        raise ValueError(f"{len(emotion_names)} emotion names for {len(res['f1'])} classes in the results")
    width = max(len("class accuracy"), *(len(n) for n in emotion_names))
    lines = [f"{'Emotion':<{width}}  {'Precision':>9}  {'Recall':>9}  {'f-1 score':>9}"]
    rows = [(n, res["precision"][i], res["recall"][i], res["f1"][i]) for i, n in enumerate(emotion_names)]
    rows.append(("average", res["precision_macro"], res["recall_macro"], res["f1_macro"]))
    lines += [f"{n:<{width}}  {p:>9.2f}  {r:>9.2f}  {f:>9.2f}" for n, p, r, f in rows]
    lines.insert(-1, "-" * len(lines[0]))
    lines.append(
        f"{'class accuracy':<{width}}  {100 * float(res['ua']):>8.2f}%  "
        f"{'overall acc.':>9}  {100 * float(res['wa']):>8.2f}%"
    )
    return "\n".join(lines)


#: Where the attention looks (:mod:`mosei_attn.models.attention_stats`): key -> (label, as a percentage).
ATTENTION_FIGURES = {
    "attn_peak": ("alpha max/mean", False),
    "attn_entropy": ("entropy", False),
    "attn_onset": ("peak on onset", True),
    "attn_onset_chance": ("chance", True),
    "attn_last": ("peak on last", True),
}


def by_group(results: dict[str, Any], prefix: str) -> list[str]:
    """ "<group> 12.3%" for each ``<prefix><group>`` of ``results`` (a share), in their order."""
    return [f"{k[len(prefix) :]} {100 * float(v):.1f}%" for k, v in results.items() if k.startswith(prefix)]


def ratios(results: dict[str, Any], prefix: str) -> list[str]:
    """ "pointing both 1.23" for each ``<prefix>pointing...`` and ``<prefix>word_choice...`` of ``results``
    (ratios and shares of alpha), named without ``prefix``."""
    starts = (f"{prefix}pointing", f"{prefix}word_choice")
    return [
        f"{k[len(prefix) :].replace('_', ' ')} {float(v):.2f}"
        for k, v in results.items()
        if k.startswith(starts)
    ]


def extra_line(results: dict[str, Any]) -> str:
    """The figures beyond the paper's table, as one line ('' if none): accuracy per group of segments
    (``acc_<group>``, added by a callback such as the synthetic corpus's cue metrics), ``pointing``,
    ``pointing_<group>`` and ``word_choice_<group>``, where the attention looks (:data:`ATTENTION_FIGURES`),
    and the figures with each segment given another segment's words (:func:`shuffled_part`)."""
    groups = by_group(results, "acc_")
    pointing = ratios(results, "")
    attn = [
        f"{label} {100 * float(results[k]):.1f}%" if percent else f"{label} {float(results[k]):.2f}"
        for k, (label, percent) in ATTENTION_FIGURES.items()
        if k in results
    ]
    parts = [
        ("accuracy by group: " + ", ".join(groups)) if groups else "",
        ", ".join(pointing),
        "; ".join(attn),
        shuffled_part(results),
    ]
    return " | ".join(p for p in parts if p)


def shuffled_part(results: dict[str, Any]) -> str:
    """'' or "other segments' words: UA .., WA .., text guidance .., accuracy by group .., the other words'
    label by group .., pointing ..":
    the ``shuffled/`` figures and ``text_guidance`` (:mod:`mosei_attn.models.text_guidance`)."""
    parts = [
        f"{label} {100 * float(results[key]):.1f}%"
        for key, label in ((f"{SHUFFLED}ua", "UA"), (f"{SHUFFLED}wa", "WA"))
        if key in results
    ]
    if "text_guidance" in results:
        parts.append(f"text guidance {float(results['text_guidance']):.3f}")
    for prefix, label in (
        (f"{SHUFFLED}acc_", "accuracy"),
        (f"{SHUFFLED}follows_words_", "the other words' label"),
    ):
        if groups := by_group(results, prefix):
            parts.append(f"{label} by group " + ", ".join(groups))
    parts += ratios(results, SHUFFLED)
    if f"{SHUFFLED}unpaired" in results:
        n = int(results[f"{SHUFFLED}unpaired"])
        parts.append(f"{n} segment(s) left out: alone in their batch, no other words to take")
    return ("other segments' words: " + ", ".join(parts)) if parts else ""


def confusion_title(
    model_name: str, split: str, results: dict[str, Any], extra: dict[str, Any] | None = None
) -> str:
    """The confusion figure's title: model, split, WA and UA, the checkpoint's epoch (1-based, as the curves'
    axes; ``extra["checkpoint_epoch"]`` is Lightning's 0-based count) and the data's name."""
    extra = extra or {}
    parts = [
        f"{model_name}: {split} split",
        f"WA {100 * float(results['wa']):.1f}%",
        f"UA {100 * float(results['ua']):.1f}%",
    ]
    if extra.get("checkpoint_epoch") is not None:
        parts.append(f"epoch {int(extra['checkpoint_epoch']) + 1}")
    if extra.get("data"):
        parts.append(f"data {extra['data']}")
    return ", ".join(parts)


def write_report(
    tables: dict[str, dict[str, Any]],
    names: tuple[str, ...],
    out_dir: Path,
    model_name: str,
    extra: dict[str, Any] | None = None,
    title: str = "",
    draw: bool = True,
) -> tuple[dict[str, Any], Path]:
    """Print the paper's table for each split of ``tables`` (split -> a module's results dict; the paper's
    figures beside the validation split's), save a confusion matrix PNG per split (where ``draw``) and one
    metrics.json.

    metrics.json holds one flat table per split: every key of a split's results as ``<split>/<key>`` (so a
    key the module adds to its results joins both tables), plus ``splits``, ``model``, ``figures``,
    ``paper`` (its figures and the split they are on) and ``extra``."""
    figures = {}
    metrics: dict[str, Any] = {}
    for split, results in tables.items():
        print(f"\n{split} split, {title} ({model_name})\n{format_table(results, names)}")
        if line := extra_line(results):
            print(line)
        if split == PAPER_SPLIT and (comparison := paper_comparison(results, names, model_name)):
            print(comparison)
        if draw and "confusion" in results:
            path = out_dir / f"confusion_{split}.png"
            drawn = plots.plot_confusion(
                results["confusion"], names, path, title=confusion_title(model_name, split, results, extra)
            )
            figures[f"confusion_{split}"] = str(drawn.path)
        metrics |= flat_metrics(results, names, split)
    paper = PAPER_RESULTS.get(model_name)
    paper = paper | {"split": PAPER_SPLIT, "data": "real MOSEI"} if paper else None
    metrics |= {"splits": list(tables), "model": model_name, "figures": figures, "paper": paper}
    metrics |= extra or {}
    return metrics, write_json(out_dir / "metrics.json", metrics)
