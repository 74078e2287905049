"""The paper's table (printed), ``metrics.json`` and the confusion matrix of one split of a run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mosei_attn.io import write_json
from mosei_attn.reporting import plots

#: The paper's validation figures (Tables 1-2), shown beside ours.
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "shallow": {"wa": 0.8311, "ua": 0.7723},
    "attention": {"wa": 0.8889, "ua": 0.8408},
}


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


def write_report(
    results: dict[str, Any],
    names: tuple[str, ...],
    out_dir: Path,
    prefix: str,
    model_name: str,
    extra: dict[str, Any] | None = None,
    title: str = "",
) -> tuple[dict[str, Any], Path]:
    """Print the paper's table, save metrics.json and the confusion matrix PNG into ``out_dir``."""
    table = format_table(results, names)
    print(f"\n{title or prefix} ({model_name})\n{table}")
    paper = PAPER_RESULTS.get(model_name)
    if paper:
        print(f"paper ({model_name}, real MOSEI validation): WA {paper['wa']:.2%}  UA {paper['ua']:.2%}")
    figures = {}
    if "confusion" in results:
        figures["confusion"] = str(
            plots.plot_confusion(
                results["confusion"],
                names,
                out_dir / f"confusion_{prefix}.png",
                title=f"{model_name}: {prefix}",
            )
        )
    metrics = flat_metrics(results, names, prefix) | {"model": model_name, "figures": figures, "paper": paper}
    metrics |= extra or {}
    return metrics, write_json(out_dir / "metrics.json", metrics)
