"""What skipping the padding saves the attention network's training step on the CPU.

    python benchmarks/padding.py [--rounds 3] [--steps 20] [--chunks 2 4 8] [train.py overrides ...]

Builds the data and the network of the training run the overrides name (default: the default run; its
corpus and cache are written first when missing) and takes its first ``--steps`` + 2 training batches.
Then, in rounds, times training steps (forward, cross entropy, backward, the run's optimizer) on those
batches, 2 untimed first, with the network reading:

- ``uncut``: every frame of the batch (as before :meth:`AttentionNet.trim`),
- ``cut``: the frames up to the batch's longest segment, the batch at once,
- ``chunks of N``: the batch in chunks of N segments sorted by length, each cut to its own longest
  (:meth:`AttentionNet.chunks`; the network's own N is ``CPU_CHUNK``).

Prints each side's seconds per step by round and its median over rounds against ``uncut``'s; the last line
is one JSON object with every figure. The sides alternate within each round, so a machine that slows down
shows in every side alike.
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
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' helpers
import mosei_attn.models.attention as attention  # noqa: E402
from mosei_attn.models.base import build_optimizers  # noqa: E402
from mosei_attn.process import process_setup  # noqa: E402
from mosei_attn.training.build import build_datamodule, build_model  # noqa: E402
from tests.conftest import compose_config  # noqa: E402

WARMUP = 2


def uncut(self, spec, spec_len, speech):
    """:meth:`AttentionNet.trim` that cuts nothing: the network as it ran before."""
    return spec, speech


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each timing every side once")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per side and round")
    parser.add_argument("--chunks", type=int, nargs="+", default=[2, 4, 8], help="chunk sizes to time")
    parser.add_argument("overrides", nargs="*", help="train.py overrides (e.g. data.batch_size=32)")
    args = parser.parse_args(argv)
    process_setup()
    cfg = compose_config("train", args.overrides, Path(tempfile.mkdtemp(prefix="padding_")) / "run")
    L.seed_everything(cfg.seed)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = build_model(cfg, datamodule.meta)
    net = module.net
    if not net.reads_lengths_only:
        raise SystemExit("this network reads every frame (model.mask_padding=false or model.head=flatten)")
    optimizer, _ = build_optimizers(cfg.optimizer, None, net.parameters())  # the run's, unscheduled
    loader = iter(datamodule.train_dataloader())
    batches = [next(loader) for _ in range(WARMUP + args.steps)]
    n_frames = batches[0]["spec"].shape[-1]
    widths = [int(b["spec_len"].max()) / n_frames for b in batches]

    def step(batch: dict) -> None:
        speech = {"speech": batch["speech"]} if net.uses_speech else {}
        spec, words = batch["spec"].float(), batch["words"].float()
        out = net(spec, batch["spec_len"], words, batch["word_len"], **speech)
        loss = F.cross_entropy(out.logits, batch["target"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    own_chunk, own_trim = attention.CPU_CHUNK, attention.AttentionNet.trim
    sides = {"uncut": (None, uncut), "cut": (None, own_trim)} | {
        f"chunks of {n}": (n, own_trim) for n in args.chunks
    }
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    for r in range(args.rounds):
        for side, (chunk, trim) in sides.items():
            attention.CPU_CHUNK, attention.AttentionNet.trim = chunk or len(batches[0]["spec_len"]), trim
            for batch in batches[:WARMUP]:
                step(batch)
            t0 = time.perf_counter()
            for batch in batches[WARMUP:]:
                step(batch)
            seconds[side].append((time.perf_counter() - t0) / args.steps)
            print(f"round {r + 1}  {side:<14} {seconds[side][-1]:.4f} s/step", flush=True)
    attention.CPU_CHUNK, attention.AttentionNet.trim = own_chunk, own_trim
    base = statistics.median(seconds["uncut"])
    result = {
        "threads": torch.get_num_threads(),
        "batch": len(batches[0]["spec_len"]),
        "mean_longest_share": statistics.mean(widths),
        "network_chunk": own_chunk,
        "seconds": seconds,
        "median_vs_uncut": {side: statistics.median(s) / base for side, s in seconds.items()},
    }
    print(f"batches' longest segment: {result['mean_longest_share']:.1%} of {n_frames} frames on average")
    for side, ratio in result["median_vs_uncut"].items():
        print(f"{side:<14} median {statistics.median(seconds[side]):.4f} s/step  {ratio:.2f}x uncut")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
