"""What a finished evaluation leaves behind: the paper's table, metrics.json, confusion and attention figures."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mosei_attn import plots
from mosei_attn.metrics import format_table
from mosei_attn.utils import write_json

log = logging.getLogger(__name__)

#: The paper's validation figures (Tables 1-2), shown beside ours.
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "shallow": {"wa": 0.8311, "ua": 0.7723},
    "attention": {"wa": 0.8889, "ua": 0.8408},
}


def summarise(results: dict[str, Any], names: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """Flat JSON-ready figures (``test/wa`` ...) from a module's results dict."""
    out: dict[str, Any] = {}
    for k, v in results.items():
        if isinstance(v, np.ndarray | torch.Tensor):
            v = np.asarray(v).tolist()
        out[f"{prefix}/{k}"] = v
    out[f"{prefix}/emotion_names"] = list(names)
    return out


@torch.no_grad()
def attention_examples(model: Any, dataset: Any, out_dir: Path, n: int = 1, hop_seconds: float | None = None) -> list[Path]:
    """Figure 2 for the first ``n`` segments of ``dataset`` (fixed, so runs are comparable)."""
    paths = []
    model.eval()
    cache = dataset.cache
    for i in range(min(n, len(dataset))):
        item = dataset[i]
        batch = {k: v[None].to(model.device) for k, v in item.items()}
        logits, attention = model(batch)
        if attention is None:
            return paths
        row = int(item["index"])
        words = str(cache.text[row]).split()
        probs = torch.softmax(logits.float(), -1)[0].cpu().numpy()
        names = model.meta.emotion_names
        title = f"{cache.segment_id[row]}  predicted {names[int(probs.argmax())]} ({probs.max():.2f})"
        paths.append(
            plots.plot_attention(
                item["spec"][0].numpy(), attention[0].float().cpu().numpy(), words,
                out_dir / f"attention_{i}.png", spec_len=int(item["spec_len"]),
                n_words=int(np.ceil(int(item["word_len"]) / (item["words"].shape[0] / attention.shape[2]))),
                hop_seconds=hop_seconds, title=title,
            )
        )
    return paths


def write_report(
    results: dict[str, Any], names: tuple[str, ...], out_dir: Path, prefix: str, model_name: str,
    extra: dict[str, Any] | None = None, title: str = "",
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
            plots.plot_confusion(results["confusion"], names, out_dir / f"confusion_{prefix}.png",
                                 title=f"{model_name}: {prefix}")
        )
    metrics = summarise(results, names, prefix) | {"model": model_name, "figures": figures, "paper": paper}
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
