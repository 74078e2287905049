"""What each model learns with the default recipe: test WA, UA, accuracy per cue mode and pointing score,
mean +- std over seeds, on the embedded synthetic corpus.

    python benchmarks/learning.py                      # attention, shallow, attention_text; seeds 1-5
    python benchmarks/learning.py --seeds 1 2 3 --jobs 2 --models attention shallow

Each (model, seed) is one `python -m mosei_attn.train model=<m> seed=<s>` run in its own process (the
main job's recipe, nothing changed but the seed); runs already finished under --out are reused, so an
interrupted benchmark continues. Where a run's best checkpoint was evaluated again on the test split
(`python -m mosei_attn.evaluate ckpt_path=...`, into `<run>/evaluate_test/`), its test figures are the
re-evaluated ones. Prints a Markdown table and, last, one JSON line with every figure.
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

from mosei_attn.synthetic.config import MODES

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (
    "wa",
    "ua",
    *(f"acc_{m}" for m in MODES),
    "pointing",
    *(f"pointing_{m}" for m in MODES),
    "pointing_floor",
    *(f"pointing_floor_{m}" for m in MODES),
    "attn_onset",
    "attn_onset_chance",
)
#: Printed as ratios (1.0 = uniform attention), not percent.
RATIOS = tuple(c for c in COLUMNS if c.startswith("pointing"))


def run_one(model: str, seed: int, out: Path, threads: int, extra: list[str]) -> dict:
    """Train and test one model with one seed (reusing a finished run); its metrics.json."""
    run_dir = out / f"{model}_seed{seed}"
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        args = [
            f"model={model}",
            f"seed={seed}",
            "logger=csv",
            f"hydra.run.dir={run_dir}",
            "callbacks.progress_bar=null",
        ]
        t0 = time.perf_counter()
        log = run_dir.with_suffix(".log")
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            run_module("train", [*args, *extra], threads=threads, log=f)
        print(f"{model} seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    reevaluated = run_dir / "evaluate_test" / "metrics.json"  # `mosei_attn.evaluate` of the best checkpoint
    if reevaluated.is_file():  # after a change to how a figure is measured (training is the same)
        return json.loads(metrics.read_text()) | json.loads(reevaluated.read_text())
    return json.loads(metrics.read_text())


def prepare(extra: list[str]) -> None:
    """Write the corpus and its feature cache (``mosei_attn.prepare``) with the runs' data overrides."""
    run_module("prepare", [o for o in extra if o.lstrip("+~").startswith(("data", "paths"))])


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


def summarise(results: dict[str, list[dict]], split: str) -> dict[str, dict[str, list[float]]]:
    """Per model and column: [mean, std, n] over the seeds that report it."""
    table: dict[str, dict[str, list[float]]] = {}
    for model, runs in results.items():
        table[model] = {}
        for col in COLUMNS:
            values = [r[f"{split}/{col}"] for r in runs if f"{split}/{col}" in r]
            if values:
                table[model][col] = [float(np.mean(values)), float(np.std(values)), len(values)]
    return table


def markdown(table: dict[str, dict[str, list[float]]], majority: float | None) -> str:
    head = "| model | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for model, cols in table.items():
        cells = []
        for col in COLUMNS:
            if col not in cols:
                cells.append("-")
            elif col in RATIOS:
                cells.append(f"{cols[col][0]:.2f} ± {cols[col][1]:.2f}")
            else:
                cells.append(f"{100 * cols[col][0]:.1f} ± {100 * cols[col][1]:.1f}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if majority is not None:
        lines.append(f"\nmajority-class WA of the test split: {100 * majority:.1f}%")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["attention", "shallow", "attention_text"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each gets cores / jobs threads)")
    parser.add_argument("--out", type=Path, default=ROOT / "lightning_logs" / "learning")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides passed to every run")
    args = parser.parse_args()
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    jobs = [(m, s) for s in args.seeds for m in args.models]
    if args.jobs > 1:  # the corpus and its cache are written once, before the runs start side by side
        prepare(args.overrides)
    with ThreadPoolExecutor(args.jobs) as pool:
        done = list(pool.map(lambda j: run_one(*j, args.out, threads, args.overrides), jobs))
    results: dict[str, list[dict]] = {m: [] for m in args.models}
    for (model, _), metrics in zip(jobs, done, strict=True):
        results[model].append(metrics)
    confusion = np.asarray(done[0]["test/confusion"])
    majority = float(confusion.sum(axis=1).max() / confusion.sum())
    out = {split: summarise(results, split) for split in ("val", "test")}
    print(f"test split, {len(args.seeds)} seeds (mean ± std, %; pointing: 1.0 = uniform attention)")
    print(markdown(out["test"], majority))
    print(json.dumps({"seeds": args.seeds, "majority_wa": majority, **out}))


if __name__ == "__main__":
    main()
