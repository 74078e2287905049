"""What the shuffled-words pass (:mod:`mosei_attn.models.text_guidance`) costs at validation.

    python benchmarks/shuffled_words.py [--repeats 3] [--train-batches 30] [train.py overrides ...]

Builds the data and the model of the training run the overrides name (default: the default run; its corpus
and cache are written first when missing), then times, alternating, ``--repeats`` validation epochs with the
second pass and as many without it (the pass replaced by nothing), and ``--train-batches`` training steps
(the training epoch's time is theirs scaled to the epoch's batches). Prints the median seconds and the
ratios: a validation epoch with the pass over one without, and the seconds the pass adds over those of a
whole epoch (training plus validation, without the pass). The last line is one JSON object with every
figure.
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


class EpochTimer(L.Callback):
    """Seconds of the last training epoch loop (its batches only, not the fit's start and end)."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.start


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="validation epochs timed each way")
    parser.add_argument("--train-batches", type=int, default=30, help="training steps timed")
    parser.add_argument("overrides", nargs="*", help="train.py overrides (e.g. model=shallow)")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="shuffled_words_"))
    cfg = compose_config("train", args.overrides, out / "run")
    L.seed_everything(cfg.seed)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = build_model(cfg, datamodule.meta)
    quiet = {
        "accelerator": "cpu",
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    timer = EpochTimer()
    L.Trainer(
        max_epochs=1,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        limit_train_batches=args.train_batches,
        limit_val_batches=0,
        callbacks=[timer],
        **quiet,
    ).fit(model, datamodule=datamodule)
    train_batches = len(datamodule.train_dataloader())
    train_s = timer.seconds * train_batches / min(args.train_batches, train_batches)
    trainer = L.Trainer(**quiet)
    second_pass = EmotionModule._shuffled_step
    off = lambda self, batch, out, split: None  # noqa: E731
    runs: dict[object, list[float]] = {second_pass: [], off: []}
    trainer.validate(model, datamodule=datamodule, verbose=False)  # warm-up, not timed
    for i in range(args.repeats):  # alternating, each way first in turn
        for step in (second_pass, off) if i % 2 == 0 else (off, second_pass):
            EmotionModule._shuffled_step = step
            runs[step].append(timed(lambda: trainer.validate(model, datamodule=datamodule, verbose=False)))
    EmotionModule._shuffled_step = second_pass
    with_s, without_s = runs[second_pass], runs[off]
    val_with, val_without = statistics.median(with_s), statistics.median(without_s)
    figures = {
        "train_epoch_s": train_s,
        "val_batches": len(datamodule.val_dataloader()),
        "train_batches": train_batches,
        "val_epoch_with_s": val_with,
        "val_epoch_without_s": val_without,
        "val_ratio": val_with / val_without,
        "added_share_of_epoch": (val_with - val_without) / (train_s + val_without),
    }
    print(
        f"training epoch {train_s:.1f} s ({train_batches} batches); validation epoch {val_without:.2f} s "
        f"without the pass, {val_with:.2f} s with it ({figures['val_ratio']:.2f}x); the pass adds "
        f"{100 * figures['added_share_of_epoch']:.1f}% to an epoch"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
