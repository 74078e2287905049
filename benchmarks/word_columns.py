"""Does eq. 1 find the word the text names? The attention matrix read one word column at a time.

    python benchmarks/word_columns.py RUN [RUN ...] [--out DIR]

Each RUN is a training run of the attention model evaluated on the held-out corpus by
``benchmarks/learning.py`` (its ``heldout_seed<S>/`` folder). Its checkpoint is run again on that folder's
test split (the data its recorded overrides give), without the pass with other words, and on every
``two_stressed`` segment the attention matrix (B, m, n) is read column by column. Eq. 1 gives each word column
its own softmax over time; eq. 2 sums them into alpha. The corpus's truth gives the time spans of the emotion
word and of its rival (stressed alike, with another emotion's prosody); the words csd gives each word's place
in the segment's word list, so the column that holds each of the two words is known (``pool ** text_blocks``
words per column; a segment whose two words share a column is left out, and counted).

Per segment, for a column's distribution over time, its **choice** is its mass on the emotion word over its
mass on both words (0.5: it does not tell them apart). Printed per run, mean over segments:

- ``emotion column``: the choice of the column that holds the emotion word. Above 0.5: that word's features,
  matched against the speech's, find the speech of its own emotion;
- ``rival column``: the choice of the column that holds the rival word (below 0.5: it finds the rival);
- ``other columns``: the choice of the segment's other real columns (their words are neutral);
- ``alpha``: the choice of eq. 2's sum over the columns (``word_choice_two_stressed`` of the run's metrics);
- ``emotion column's share``: of alpha's mass on the two words, the share that comes from the emotion word's
  column: what eq. 2's sum leaves of it beside the other columns;
- ``pointing``, ``pointing shuffled`` and ``pointing, emotion column on its word``: alpha's pointing on the
  emotion word (the cue metrics' ``pointing``) with the segment's own words, with another segment's words
  (the module's second pass), and with the emotion word's column replaced by one that puts all its mass on
  that word (spread over its positions by their share of it), every other column as it is: how far eq. 1
  finding the word perfectly would move alpha through eq. 2's sum.

Writes ``<out>/word_columns.json`` with every run's figures.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from hydra import compose, initialize_config_dir

import mosei_attn.evaluate as evaluate
from mosei_attn.config import CONFIG_DIR
from mosei_attn.data.corpora.csd import ComputationalSequence, words_to_str
from mosei_attn.data.corpora.mosei_layout import SILENCE_TOKEN
from mosei_attn.data.dataset import extra_fields
from mosei_attn.synthetic.cue_metrics import pointing_on, position_share

MODE = "two_stressed"
FIGURES = (
    "emotion_column",
    "rival_column",
    "other_columns",
    "alpha",
    "emotion_column_share",
    "pointing",
    "pointing_shuffled",
    "pointing_perfect_column",
)


def word_index(
    mids: np.ndarray, start: float, end: float, spans: list[list[float]], max_words: int
) -> int | None:
    """The place in a segment's word list (the words of a video whose midpoints ``mids``, in time order, lie
    in [start, end]) of the word whose midpoint lies in the first of ``spans`` (seconds); None where there is
    none in the segment or it lies past the ``max_words`` the features keep."""
    if not spans:
        return None
    begin, stop = spans[0]
    inside = np.flatnonzero((mids >= max(begin, start)) & (mids <= min(stop, end)))
    if len(inside) == 0:
        return None
    place = int(np.count_nonzero((mids >= start) & (mids < mids[inside[0]])))
    return place if place < max_words else None


def word_places(datamodule, split: str) -> dict[int, tuple[int, int]]:
    """For each cache row of ``split`` on a two_stressed segment: the places of its emotion word and of its
    rival word in its word list."""
    dataset = datamodule.dataset(split)
    cache = dataset.cache
    truth = datamodule.extras_provider.truth
    corpus = datamodule.corpus()
    ids, starts = cache.segment_id, cache.column("start")
    ends = cache.column("end")
    places: dict[int, tuple[int, int]] = {}
    with ComputationalSequence(corpus.words_path) as words:
        by_video: dict[str, np.ndarray] = {}
        for row in dataset.rows:
            video, entry = truth.entry(str(ids[row]))
            if entry is None or entry["mode"] != MODE:
                continue
            if video not in by_video:
                feats, iv = words[video]
                keep = np.array([t != SILENCE_TOKEN for t in words_to_str(feats)], dtype=bool)
                by_video[video] = iv[keep].mean(axis=1)
            mids = by_video[video]
            found = [
                word_index(mids, starts[row], ends[row], entry.get(key, []), datamodule.text.max_words)
                for key in ("stressed", "rival")
            ]
            if None not in found:
                places[int(row)] = (found[0], found[1])
    return places


def choice(dist: torch.Tensor, share: torch.Tensor, rival: torch.Tensor) -> torch.Tensor:
    """Mass of ``dist`` (..., m) on the emotion word (``share``, m) over its mass on both words."""
    on_word, on_rival = (dist * share).sum(-1), (dist * rival).sum(-1)
    return on_word / (on_word + on_rival).clamp(min=1e-12)


def pointing_of(alpha: torch.Tensor, share: torch.Tensor, attended: torch.Tensor) -> float:
    """The cue metrics' pointing of one segment's ``alpha`` (m,) over its ``attended`` real positions (a
    0-d tensor) on the word of ``share`` (m,), whatever alpha's scale; NaN where the word lies on none."""
    dist = alpha / alpha.sum()
    return float(pointing_on(dist[None], share[None], attended[None]))


def segment_figures(
    matrix: torch.Tensor,
    alphas: tuple[torch.Tensor, torch.Tensor],
    share: torch.Tensor,
    rival: torch.Tensor,
    attended: torch.Tensor,
    ce: int,
    cr: int,
) -> dict[str, float]:
    """:data:`FIGURES` of one segment: its attention ``matrix`` (m, n), its alpha with its own words and with
    another segment's (``alphas``, (m,) each), each position's share of the emotion word (``share``, m) and
    of the rival word (``rival``, m), its real positions ``attended`` (0-d), and the columns ``ce`` and
    ``cr`` that hold the two words. A figure that cannot be had (a column past the real ones, a word on no
    position) is left out."""
    n_cols = int((matrix.sum(dim=0) > 0).sum())  # the real columns: each a distribution over time
    if max(ce, cr) >= n_cols or not share.sum() or not rival.sum():
        return {}
    cols = choice(matrix.T[:n_cols], share, rival)  # (n_cols,)
    others = [c for c in range(n_cols) if c not in (ce, cr)]
    on_words = (matrix[:, :n_cols] * (share + rival)[:, None]).sum(dim=0)  # each column's mass on both
    perfect = matrix.clone()  # the emotion word's column on its word alone; eq. 2 sums the columns
    perfect[:, ce] = share / share.sum()
    perfect_alpha = perfect.sum(dim=1)  # alpha's scale cancels in the pointing
    own, shuffled = alphas
    figures = {
        "emotion_column": float(cols[ce]),
        "rival_column": float(cols[cr]),
        "alpha": float(choice(own, share, rival)),
        "emotion_column_share": float(on_words[ce] / on_words.sum().clamp(min=1e-12)),
        "pointing": pointing_of(own, share, attended),
        "pointing_shuffled": pointing_of(shuffled, share, attended),
        "pointing_perfect_column": pointing_of(perfect_alpha, share, attended),
    }
    if others:
        figures["other_columns"] = float(cols[others].mean())
    return {k: v for k, v in figures.items() if not math.isnan(v)}


def load_heldout(run: Path) -> tuple[Any, Any, str]:
    """``run``'s checkpoint (in eval mode), the DataModule of its held-out evaluation (the data its
    ``heldout_seed<S>/`` folder's recorded overrides give, set up) and the split evaluated there."""
    heldout = sorted(run.glob("heldout_seed*/.hydra/overrides.yaml"))
    if not heldout:
        raise SystemExit(f"{run}: no heldout_seed<S>/ folder; evaluate it with benchmarks/learning.py first")
    recorded = [a for a in yaml.safe_load(heldout[0].read_text()) if not a.startswith("hydra.")]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=recorded)
    model, _, datamodule = evaluate.checkpoint_and_data(cfg)  # as `evaluate` loads and checks them
    return model.eval(), datamodule, cfg.split


def probe_run(run: Path) -> dict:
    """The column figures of ``run``'s checkpoint on its held-out test split."""
    model, datamodule, split = load_heldout(run)
    places = word_places(datamodule, split)
    net = model.net
    per_column = net.pool**net.text_blocks  # words per column of the attention matrix
    sums = {k: [] for k in FIGURES}
    same_column = 0
    with torch.no_grad():
        for batch in datamodule._loader(split, shuffle=False):
            out = model(batch, other_words=True)
            extra = extra_fields(batch)
            m = out.alpha.shape[1]
            share, rival = (
                position_share(extra[k].bool(), out.attended, m, net.time_stride) for k in ("stress", "rival")
            )
            for b, row in enumerate(batch["index"].tolist()):
                if row not in places:
                    continue
                ce, cr = (p // per_column for p in places[row])
                if ce == cr:
                    same_column += 1
                    continue
                alphas = (out.alpha[b], out.shuffled.alpha[b])
                figures = segment_figures(
                    out.attention[b], alphas, share[b], rival[b], out.attended[b], ce, cr
                )
                for key, value in figures.items():
                    sums[key].append(value)
    figures = {k: statistics.mean(v) for k, v in sums.items() if v}
    figures["segments"] = len(sums["alpha"])
    figures["same_column"] = same_column
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training runs with a heldout_seed<S>/ folder")
    parser.add_argument("--out", type=Path, default=Path("word_columns"), help="where the JSON goes")
    args = parser.parse_args(argv)
    results = {run.name: probe_run(run) for run in args.runs}
    print(f"{MODE}, held-out test split; choice: mass on the emotion word over mass on both stressed words")
    print(f"{'run':<20} " + " ".join(f"{f:>20}" for f in FIGURES) + f" {'segments':>9}")
    mean = {f: statistics.mean(r[f] for r in results.values()) for f in FIGURES}
    for name, r in (*results.items(), ("mean", mean)):
        cells = " ".join(f"{r.get(f, math.nan):>20.3f}" for f in FIGURES)
        print(f"{name:<20} {cells} {r.get('segments', ''):>9}")
    return write_summary(args.out / "word_columns.json", mean, results)


def write_summary(path: Path, mean: dict, by_run: dict) -> dict:
    """``{"mean": mean, "by_run": by_run}``, written as JSON to ``path`` (its folder made); returned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {"mean": mean, "by_run": by_run}
    path.write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
