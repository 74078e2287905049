"""What the shuffled-words pass (:mod:`mosei_attn.models.text_guidance`) costs at validation.

    python benchmarks/shuffled_words.py [--repeats 3] [train.py overrides ...]

Builds the data and the model of the training run the overrides name (default: the default run; its corpus
and cache are written first when missing), then times one training epoch (no validation) and, alternating,
``--repeats`` validation epochs with the second pass and as many without it (the pass replaced by nothing).
Prints the median seconds and the ratios: a validation epoch with the pass over one without, and the
seconds the pass adds over those of a whole epoch (training plus validation, without the pass). The last
line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' helpers
from mosei_attn.models.base import EmotionModule  # noqa: E402
from mosei_attn.training.build import build_datamodule, build_model  # noqa: E402
from tests.conftest import compose_config  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="validation epochs timed each way")
    parser.add_argument("overrides", nargs="*", help="train.py overrides (e.g. model=shallow)")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="shuffled_words_"))
    cfg = compose_config("train", args.overrides, out / "run")
    L.seed_everything(cfg.seed)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = build_model(cfg, datamodule.meta)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    train_s = timed(lambda: trainer.fit(model, datamodule=datamodule))
    second_pass = EmotionModule._shuffled_step
    with_s, without_s = [], []
    for _ in range(args.repeats):
        EmotionModule._shuffled_step = second_pass
        with_s.append(timed(lambda: trainer.validate(model, datamodule=datamodule, verbose=False)))
        EmotionModule._shuffled_step = lambda self, batch, out, split: None
        without_s.append(timed(lambda: trainer.validate(model, datamodule=datamodule, verbose=False)))
    EmotionModule._shuffled_step = second_pass
    val_with, val_without = statistics.median(with_s), statistics.median(without_s)
    figures = {
        "train_epoch_s": train_s,
        "val_epoch_with_s": val_with,
        "val_epoch_without_s": val_without,
        "val_ratio": val_with / val_without,
        "added_share_of_epoch": (val_with - val_without) / (train_s + val_without),
    }
    print(
        f"training epoch {train_s:.1f} s; validation epoch {val_without:.2f} s without the pass, "
        f"{val_with:.2f} s with it ({figures['val_ratio']:.2f}x); the pass adds "
        f"{100 * figures['added_share_of_epoch']:.1f}% to an epoch"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
