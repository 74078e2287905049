"""What each model learns with the default recipe, reported on a corpus nothing was trained or chosen on.

    python benchmarks/learning.py                      # attention, shallow, attention_text; seeds 1-5
    python benchmarks/learning.py --seeds 1 2 3 --jobs 2 --models attention shallow
    python benchmarks/learning.py --models attention --seeds 1 \\
        trainer.max_epochs=1 data.write_corpus.n_videos=60

The protocol:

- **Train and choose on the training corpus.** Each (model, seed) is one ``python -m mosei_attn.train
  model=<m> seed=<s>`` run in its own process (the main job's recipe, nothing changed but the seed and the
  overrides given here), on the default synthetic corpus (generator seed 0). Its checkpoint is the one with
  the best validation UA, as train chooses it. The validation columns are where any choice between models
  or levers is to be made; the training corpus's test fold is not reported (earlier levers were chosen on it).
- **Report on a held-out corpus**: the same generator with another seed (``--heldout-seed``, 7), which
  speaks the same language (the word vectors do not depend on the corpus seed, as GloVe does not depend on
  the corpus) with other speakers, sentences and labels; ``--heldout-test-share`` of its videos form its
  test fold. Each best checkpoint is evaluated there by ``python -m mosei_attn.evaluate ckpt_path=<best>
  split=test`` with the held-out corpus as its data, into ``<run>/heldout_seed<S>/``.

Runs and evaluations already finished under --out are reused, and a run stopped part-way resumes from its
``checkpoints/last.ckpt``, so an interrupted benchmark continues where it stopped (delete a run's
``heldout_seed<S>/`` folder to evaluate its checkpoint again after a change to how a figure is
measured). Prints one table per model (mean ± std over seeds: WA, UA, accuracy and pointing per cue mode,
validation beside held-out test, and the figures with shuffled words where the runs log them), writes them to
``<out>/learning.md`` and every figure to ``<out>/learning.json``, and prints that JSON as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from mosei_attn.files import write_json, write_text
from mosei_attn.synthetic.config import MODES, SyntheticConfig

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (
    "wa",
    "ua",
    *(f"acc_{m}" for m in MODES),
    "pointing",
    *(f"pointing_{m}" for m in MODES),
    "pointing_floor",
    *(f"pointing_floor_{m}" for m in MODES),
    "word_choice_two_stressed",
    *(f"follows_words_{m}" for m in MODES),  # logged with shuffled words only: the other words' label
    "attn_onset",
    "attn_onset_chance",
    "text_guidance",
)
#: The same figure with each segment given another segment's words (logged as ``<split>/shuffled/<column>``).
SHUFFLED = "shuffled/"
#: Printed as ratios (1.0 = uniform attention), shares of alpha (word choice) or distances, not percent.
RATIOS = tuple(c for c in COLUMNS if c.startswith(("pointing", "word_choice")) or c == "text_guidance")
#: The config groups of the training run that the held-out evaluation takes over (its data and features).
DATA_GROUPS = ("data", "data/audio")


def run_dir_of(model: str, seed: int, out: Path) -> Path:
    return out / f"{model}_seed{seed}"


def train_one(model: str, seed: int, out: Path, threads: int, extra: list[str]) -> dict:
    """Train and test one model with one seed (reusing a finished run); its metrics.json."""
    run_dir = run_dir_of(model, seed, out)
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        args = [f"model={model}", f"seed={seed}", "logger=csv", f"hydra.run.dir={run_dir}"]
        last = run_dir / "checkpoints" / "last.ckpt"
        resuming = last.is_file()  # a run stopped part-way continues from its last epoch (docs/usage.md)
        if resuming:
            args.append(f"ckpt_path={last}")
        t0 = time.perf_counter()
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(run_dir.with_suffix(".log"), "a" if resuming else "w") as f:
            run_module("train", [*args, "callbacks.progress_bar=null", *extra], threads=threads, log=f)
        print(f"{model} seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return json.loads(metrics.read_text())


def heldout_data(seed: int, test_share: float) -> list[str]:
    """The data overrides that make a run's corpus the held-out one: generator seed ``seed``, its own folder
    beside the default corpus, ``test_share`` of its videos in the test fold (the rest split evenly)."""
    rest = round((1 - test_share) / 2, 6)
    return [
        f"data.root=${{paths.data_dir}}/synthetic_seed{seed}",
        f"data.write_corpus.seed={seed}",
        f"data.write_corpus.fold_fractions=[{rest},{rest},{test_share}]",
    ]


def data_overrides(extra: list[str]) -> list[str]:
    """The overrides of ``extra`` that say which data and where (``data...``, ``paths...``)."""
    return [o for o in extra if o.lstrip("+~").startswith(("data", "paths"))]


def evaluate_heldout(
    run_dir: Path, train_metrics: dict, extra: list[str], heldout: list[str], tag: str, threads: int
) -> dict:
    """The held-out test figures of a run's best checkpoint (``<run>/<tag>/metrics.json``, evaluated once)."""
    metrics = run_dir / tag / "metrics.json"
    if not metrics.is_file():
        best = train_metrics.get("best_checkpoint")
        if not best:
            print(f"{run_dir.name}: no best checkpoint to evaluate on the held-out corpus", file=sys.stderr)
            return {}
        # the run's data and feature groups (an experiment's among them), then the data overrides given here
        choices = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["runtime"][
            "choices"
        ]
        groups = [f"{g}={choices[g]}" for g in DATA_GROUPS if choices.get(g)]
        given = [o for o in data_overrides(extra) if o.split("=", 1)[0].lstrip("+~") not in DATA_GROUPS]
        args = [
            f"ckpt_path={best}",
            "split=test",
            f"hydra.run.dir={run_dir / tag}",
            *groups,
            *given,
            *heldout,
        ]
        with open(run_dir / f"{tag}.log", "w") as f:
            run_module("evaluate", args, threads=threads, log=f)
    return json.loads(metrics.read_text())


def prepare(overrides: list[str]) -> None:
    """Write a corpus and its feature cache (``mosei_attn.prepare``) with these data overrides."""
    run_module("prepare", overrides)


def run_module(module: str, args: list[str], threads: int | None = None, log=None) -> None:
    """``python -m mosei_attn.<module> <args>`` from the repository, without W&B or a display; its output (and
    errors) into ``log``, or, without one, only its errors to the terminal."""
    env = dict(os.environ, WANDB_MODE="disabled", MPLBACKEND="Agg")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    out = {"stdout": log, "stderr": subprocess.STDOUT} if log else {"stdout": subprocess.DEVNULL}
    subprocess.run(
        [sys.executable, "-m", f"mosei_attn.{module}", *args], cwd=ROOT, env=env, check=True, **out
    )


def summarise(runs: list[dict], split: str) -> dict[str, list[float]]:
    """Per column (and its shuffled-words twin): [mean, std, n] over the runs that report it."""
    table = {}
    for col in (*COLUMNS, *(SHUFFLED + c for c in COLUMNS)):
        values = [r[f"{split}/{col}"] for r in runs if f"{split}/{col}" in r]
        if values:
            table[col] = [float(np.mean(values)), float(np.std(values)), len(values)]
    return table


#: The held-out figures listed seed by seed under each model's table (the targets hold for every seed).
BY_SEED = ("test/ua", "test/wa", "test/acc_two_stressed", "test/shuffled/acc_two_stressed")


def by_seed(figures: dict[int, dict[str, float]]) -> str:
    """Lines naming each seed's held-out figures (:data:`BY_SEED`), in percent; empty without runs."""
    lines = []
    for key in BY_SEED:
        values = [f"{100 * f[key]:.1f} ({s})" for s, f in sorted(figures.items()) if key in f]
        if values:
            lines.append(f"- {key.removeprefix('test/')} by seed: {', '.join(values)}")
    return "\n\n" + "\n".join(lines) if lines else ""


def cell(col: str, stats: list[float] | None) -> str:
    """``mean ± std`` (the mean alone from one seed) in the column's unit; "-" where no run reports it."""
    if stats is None:
        return "-"
    scale, digits = (1, 3) if col == "text_guidance" else (1, 2) if col in RATIOS else (100, 1)
    mean, std = (f"{scale * x:.{digits}f}" for x in stats[:2])
    return f"{mean} ± {std}" if stats[2] > 1 else mean


def markdown(model: str, val: dict, heldout: dict, heldout_name: str) -> str:
    """One model's table: a row per figure, validation (training corpus) beside the held-out test."""
    shuffled = any(k.startswith(SHUFFLED) for k in (*val, *heldout))
    head = ["figure", "val (chosen here)", f"test, {heldout_name}"]
    head += [f"test, {heldout_name}, shuffled words"] if shuffled else []
    lines = [f"**{model}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for col in COLUMNS:
        if col not in val and col not in heldout:
            continue
        cells = [col.replace("_", " "), cell(col, val.get(col)), cell(col, heldout.get(col))]
        cells += [cell(col, heldout.get(SHUFFLED + col))] if shuffled else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["attention", "shallow", "attention_text"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each gets cores / jobs threads)")
    parser.add_argument("--out", type=Path, default=ROOT / "lightning_logs" / "learning")
    parser.add_argument("--heldout-seed", type=int, default=7, help="generator seed of the held-out corpus")
    parser.add_argument(
        "--heldout-test-share", type=float, default=0.8, help="share of the held-out videos in its test fold"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides passed to every run")
    args = parser.parse_args(argv)
    given = [o.split("=", 1)[1] for o in args.overrides if o.startswith("data.write_corpus.seed=")]
    train_seed = given[-1] if given and given[-1] != "null" else str(SyntheticConfig().seed)
    if train_seed == str(args.heldout_seed):
        parser.error(
            f"--heldout-seed {args.heldout_seed} is the training corpus's generator seed: choose another"
        )
    if not 0 < args.heldout_test_share < 1:
        parser.error(f"--heldout-test-share must lie in (0, 1), got {args.heldout_test_share}")
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    heldout = heldout_data(args.heldout_seed, args.heldout_test_share)
    tag = f"heldout_seed{args.heldout_seed}"
    if args.jobs > 1:  # the corpora and their caches are written once, before the runs start side by side
        prepare(data_overrides(args.overrides))
        prepare([*data_overrides(args.overrides), *heldout])

    def job(model_seed: tuple[str, int]) -> tuple[dict, dict] | None:
        """One run and its held-out evaluation; None when either fails (the other runs go on)."""
        model, seed = model_seed
        run_dir = run_dir_of(model, seed, args.out)
        try:
            trained = train_one(model, seed, args.out, threads, args.overrides)
            return trained, evaluate_heldout(run_dir, trained, args.overrides, heldout, tag, threads)
        except subprocess.CalledProcessError as e:
            why = f"stopped by signal {-e.returncode}" if e.returncode < 0 else f"exit status {e.returncode}"
            line = f"{model} seed {seed}: failed ({why}; see {run_dir}.log and {run_dir}/); the others go on"
            print(line, file=sys.stderr, flush=True)
            return None

    jobs = [(m, s) for s in args.seeds for m in args.models]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(job, jobs))
    failed = [f"{m} seed {s}" for (m, s), r in zip(jobs, results, strict=True) if r is None]
    done = {ms: r for ms, r in zip(jobs, results, strict=True) if r is not None}
    name = f"generator seed {args.heldout_seed}"
    summary, tables, per_seed = {}, [], {}
    for model in args.models:
        runs = {s: r for (m, s), r in done.items() if m == model}
        summary[model] = {
            "val": summarise([trained for trained, _ in runs.values()], "val"),
            "heldout_test": summarise([h for _, h in runs.values()], "test"),
        }
        per_seed[model] = {s: {k: h[k] for k in BY_SEED if k in h} for s, (_, h) in runs.items()}
        tables.append(
            markdown(model, summary[model]["val"], summary[model]["heldout_test"], name)
            + by_seed(per_seed[model])
        )
    confusion = next(
        (np.asarray(h["test/confusion"]) for _, h in done.values() if "test/confusion" in h), None
    )
    majority = float(confusion.sum(axis=1).max() / confusion.sum()) if confusion is not None else None
    text = (
        f"{len(args.seeds)} seeds ({' '.join(map(str, args.seeds))}), mean ± std; % except pointing "
        f"(1.0 = uniform attention) and text guidance (0 = the words do not move alpha). Held-out corpus: "
        f"{name}, {100 * args.heldout_test_share:.0f}% of its videos in its test fold"
        + (f"; its majority-class WA {100 * majority:.1f}%." if majority is not None else ".")
        + "\n\n"
        + "\n\n".join(tables)
        + "\n"
        + (f"\nFailed, not in the figures above: {', '.join(failed)}.\n" if failed else "")
    )
    print(text)
    record = {
        "seeds": args.seeds,
        "heldout_seed": args.heldout_seed,
        "heldout_majority_wa": majority,
        **summary,
        "heldout_test_by_seed": per_seed,
        "failed": failed,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "learning.md", text)
    write_json(args.out / "learning.json", record)
    print(json.dumps(record))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
