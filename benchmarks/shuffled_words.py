"""What the shuffled-words pass (:mod:`mosei_attn.models.text_guidance`) costs at validation.

    python benchmarks/shuffled_words.py [--repeats 3] [--train-batches 30] [train.py overrides ...]

Builds the data and the model of the training run the overrides name (default: the default run; its corpus
and cache are written first when missing), then times ``--train-batches`` training steps (the training
epoch's time is theirs scaled to the epoch's batches) and, in turn, ``--repeats`` validation epochs of each
side:

- ``without``: no second pass;
- ``twice``: the network called a second time with the other words;
- ``shared``: the second pass as the run makes it, the network given both sets of words in one call, its
  speech CNN run once (``takes_other_words``; the same as ``twice`` for a network without it).

Prints the median seconds and the ratios: a validation epoch with the pass over one without, the pass's
cost shared over its cost called twice, and the seconds the pass adds over those of a whole epoch (training
plus validation, without the pass). The last line is one JSON object with every figure.
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
    own_step, shares = EmotionModule._step, getattr(model.net, "takes_other_words", False)

    def without_pass(self, batch, other_words=False):
        return own_step(self, batch, False)

    # each side: (the module's _step, whether the network computes both word sets in one call)
    sides = {"without": (without_pass, shares), "twice": (own_step, False), "shared": (own_step, shares)}
    runs: dict[str, list[float]] = {side: [] for side in sides}
    trainer.validate(model, datamodule=datamodule, verbose=False)  # warm-up, not timed
    for i in range(args.repeats):  # alternating, each side first in turn
        names = list(sides)[i % len(sides) :] + list(sides)[: i % len(sides)]
        for side in names:
            EmotionModule._step, model.net.takes_other_words = sides[side]
            runs[side].append(timed(lambda: trainer.validate(model, datamodule=datamodule, verbose=False)))
    EmotionModule._step, model.net.takes_other_words = own_step, shares
    val = {side: statistics.median(s) for side, s in runs.items()}
    figures = {
        "train_epoch_s": train_s,
        "val_batches": len(datamodule.val_dataloader()),
        "train_batches": train_batches,
        "val_epoch_without_s": val["without"],
        "val_epoch_twice_s": val["twice"],
        "val_epoch_with_s": val["shared"],
        "val_ratio": val["shared"] / val["without"],
        "shared_vs_twice": (val["shared"] - val["without"]) / (val["twice"] - val["without"]),
        "added_share_of_epoch": (val["shared"] - val["without"]) / (train_s + val["without"]),
    }
    print(
        f"training epoch {train_s:.1f} s ({train_batches} batches); validation epoch {val['without']:.2f} s "
        f"without the pass, {val['twice']:.2f} s with the network called twice, {val['shared']:.2f} s with "
        f"the speech CNN run once ({figures['val_ratio']:.2f}x; the pass costs "
        f"{figures['shared_vs_twice']:.2f}x what it costs called twice); the pass adds "
        f"{100 * figures['added_share_of_epoch']:.1f}% to an epoch"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
