"""Where the words' emotion travels in the attention model: in where alpha puts its weight, or in the weights
alone, wherever they fall.

    python benchmarks/alpha_probe.py RUN [RUN ...] [--out DIR] [--seed 0]

Each RUN is a training run evaluated on the held-out corpus by ``benchmarks/learning.py`` (its
``heldout_seed<S>/`` folder). Its checkpoint is evaluated again on the same split, with the same command
(``python -m mosei_attn.evaluate``, the overrides that folder records), in this process, three ways:

- ``own``: the network as trained (its figures are the held-out ones of ``learning.py``);
- ``moved``: every segment's alpha, as eq. 2 gives it, has its values moved to other positions at random
  among those eq. 1 covers (a fixed random permutation per segment, ``--seed``), before the spectrogram is
  weighed. The same weights, in other places: what the words say through how much weight there is, how
  peaked, survives; what they say through where it falls does not;
- ``flat``: alpha 1 on every covered position (the mean-one scale with no preference): the words no longer
  reach the classifier at all, since the mean head has no other path from them.

Each way also runs the module's pass with other segments' words. Prints, per way, the mean over the runs of
UA and of the accuracy per cue mode, and writes ``<out>/alpha_probe.json``. If ``moved`` keeps the accuracy
of the modes whose words carry the label (``text_only``, ``two_stressed``) where ``flat`` loses it, the
words reach the label through alpha's values, not its positions: eq. 1 used as a channel, not a pointer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
import yaml
from hydra.core.global_hydra import GlobalHydra

import mosei_attn.evaluate as evaluate
from mosei_attn.models.attention import AttentionNet

WAYS = ("own", "moved", "flat")
FIGURES = ("ua", "wa", "acc_both", "acc_prosody_only", "acc_text_only", "acc_distractor", "acc_two_stressed")


def moved(alpha: torch.Tensor, covered: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``alpha`` (B, m) with each row's values on its ``covered`` (B, m) positions permuted at random."""
    out = alpha.clone()
    for b in range(alpha.shape[0]):
        pos = covered[b].nonzero().flatten()
        out[b, pos] = alpha[b, pos[torch.randperm(len(pos), generator=gen)]]
    return out


def reweigh(way: str, gen: torch.Generator):
    """:meth:`AttentionNet.attend` with alpha (and the frame weights made from it) changed ``way``."""
    own = AttentionNet.attend

    def attend(self, f, n_frames, spec_len, words, word_len, speech=None):
        att = own(self, f, n_frames, spec_len, words, word_len, speech)
        if way == "moved":
            alpha = moved(att.alpha, att.covered, gen)
        else:
            alpha = att.covered.to(att.alpha.dtype)
        return att._replace(alpha=alpha, weights=self.frame_weights(alpha, att.attended, n_frames))

    return attend


def evaluate_way(run: Path, heldout: Path, out: Path, way: str, seed: int) -> dict:
    """The held-out test figures of ``run``'s checkpoint with alpha changed ``way`` (``own``: unchanged)."""
    metrics = out / "metrics.json"
    if not metrics.is_file():
        recorded = yaml.safe_load((heldout / ".hydra" / "overrides.yaml").read_text())
        args = [a for a in recorded if not a.startswith("hydra.run.dir=")] + [f"hydra.run.dir={out}"]
        own = AttentionNet.attend
        if way != "own":
            AttentionNet.attend = reweigh(way, torch.Generator().manual_seed(seed))
        argv = sys.argv
        try:
            sys.argv = ["mosei_attn.evaluate", *args]
            evaluate.cli()
        finally:
            sys.argv, AttentionNet.attend = argv, own
            GlobalHydra.instance().clear()
    result = json.loads(metrics.read_text())
    return {k.removeprefix("test/"): v for k, v in result.items() if k.startswith("test/")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training runs with a heldout_seed<S>/ folder")
    parser.add_argument("--out", type=Path, default=Path("alpha_probe"), help="where the evaluations go")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random positions of `moved`")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, dict]] = {way: {} for way in WAYS}
    for run in args.runs:
        heldout = sorted(run.glob("heldout_seed*/.hydra"))
        if not heldout:
            parser.error(f"{run}: no heldout_seed<S>/ folder; evaluate it with benchmarks/learning.py first")
        for way in WAYS:
            res = evaluate_way(run, heldout[0].parent, args.out / run.name / way, way, args.seed)
            results[way][run.name] = res
    table = {
        way: {
            fig: statistics.mean(100 * r[fig] for r in results[way].values())
            for fig in FIGURES + tuple(f"shuffled/{f}" for f in FIGURES)
            if all(fig in r for r in results[way].values())
        }
        for way in WAYS
    }
    print(f"mean over {len(args.runs)} run(s), held-out test split, %:")
    print(f"{'way':<6} " + " ".join(f"{f.removeprefix('acc_'):>13}" for f in FIGURES))
    for way in WAYS:
        print(f"{way:<6} " + " ".join(f"{table[way].get(f, float('nan')):>13.1f}" for f in FIGURES))
    summary = {"mean": table, "by_run": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "alpha_probe.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
