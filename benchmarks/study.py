"""The paper's whole study on one device: N batch-32 training jobs at once, and the study's projected wall
time.

    python benchmarks/study.py --jobs 1 2 4 8                  # H100 / H200: paper shapes, bf16
    python benchmarks/study.py --jobs 4 --compile-mode reduce-overhead --mosei-size
    python benchmarks/study.py --tiny --device cpu --jobs 2 --steps 3 --warmup 1 --workers 0   # CPU smoke run

A synthetic corpus and its feature cache are built once in a work folder (as ``benchmarks/gpu.py`` does:
``--videos``, or ``--mosei-size`` for about MOSEI's 23,000 segments), then, for each N of ``--jobs``, N job
processes start together; each builds its own model (``AttentionModule``, conf/model/attention.yaml) and its
own loader (``--workers`` processes, default the cores divided among the jobs, minus one for the job itself)
over the shared read-only cache, waits until all N are ready, and trains ``--warmup`` untimed and ``--steps``
timed steps at ``--batch`` (the paper's 32) with ``benchmarks/gpu.py``'s step and figures: samples/s, step
time, loader wait share, MFU (its FLOP count, over ``--peak-tflops`` or the device's looked-up peak) and peak
GPU memory (per process: the CUDA context each process holds on top is not counted).

Per N: the per-job figures and the aggregate samples/s (their sum: the jobs' timed steps overlap, all starting
after one barrier) and MFU (the sum: one device), and the projected wall time of the paper's study
(``--models`` x ``--seeds`` runs of ``--epochs`` epochs over ``--train-segments`` training and
``--val-segments`` validation segments, MOSEI's split by default) at that aggregate rate: a validation sample
costs a forward pass, counted as
``VAL_COST`` of a training sample (forward + backward is about 3 forwards). The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from omegaconf import OmegaConf  # noqa: E402

from benchmarks import gpu  # noqa: E402

#: The paper experiments' length and how many there are (conf/experiment), the study's default.
PAPER_EPOCHS = int(OmegaConf.load(ROOT / "conf/experiment/base/paper.yaml").trainer.max_epochs)
PAPER_MODELS = len(list((ROOT / "conf/experiment").glob("paper_*.yaml")))
#: CMU-MOSEI's standard split, training and validation segments (docs/data.md).
MOSEI_TRAIN, MOSEI_VAL = 16_327, 1_871
#: Synthetic videos for a corpus of about MOSEI's size (~7.7 segments a video: ~23,000 segments).
MOSEI_VIDEOS = 3_000
#: A validation sample's cost relative to a training sample: one forward of forward + backward (~3 forwards).
VAL_COST = 1 / 3
#: How long a job waits for the others to be ready before giving up (model building and compiling included).
BARRIER_TIMEOUT_S = 1800


def study_samples(models: int, seeds: int, epochs: int, train: int, val: int) -> float:
    """Training-sample equivalents of the whole study (validation at ``VAL_COST`` each)."""
    return models * seeds * epochs * (train + VAL_COST * val)


def summarise(jobs: list[dict], study: dict) -> dict:
    """The aggregate figures of one N from its jobs' figures, and the study's projected wall time."""
    rate = sum(j["samples_per_s"] for j in jobs)
    mfus = [j["mfu"] for j in jobs]
    gib = [j["peak_gib"] for j in jobs]
    samples = study_samples(**study)
    return {
        "n_jobs": len(jobs),
        "per_job": jobs,
        "aggregate_samples_per_s": rate,
        "aggregate_mfu": sum(mfus) if None not in mfus else None,
        "data_wait_mean": sum(j["data_wait"] for j in jobs) / len(jobs),
        "peak_gib_sum": sum(gib) if None not in gib else None,
        "study_samples": samples,
        "projected_study_s": samples / rate,
    }


def barrier(folder: Path, job: int, n: int) -> None:
    """Mark job ``job`` ready in ``folder`` and wait until all ``n`` are."""
    (folder / f"ready.{job}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while len(list(folder.glob("ready.*"))) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job}: the other jobs were not ready after {BARRIER_TIMEOUT_S} s")
        time.sleep(0.05)


def run_job(args: argparse.Namespace) -> dict:
    """One job: its model and loader over the shared cache, then the timed steps after the start barrier."""
    import torch

    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.n))
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    dm, sizes = gpu.datamodule(
        args.workdir, args.videos, args.tiny, device.type == "cuda"
    )  # adopts the cache
    torch.manual_seed(args.job)
    model, opt = gpu.training_model(dm.meta, sizes, args, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    args.peak_tflops = args.peak_tflops or gpu.peak_tflops(name)
    barrier(args.workdir / f"start-{args.n}", args.job, args.n)
    return {"job": args.job, "device": name, **gpu.measure(model, opt, dm, args.batch, args, device)}


def launch(args: argparse.Namespace, n: int, argv: list[str]) -> list[dict]:
    """Start ``n`` job processes together (this script with ``--job``) and collect their figures."""
    (args.workdir / f"start-{n}").mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        *argv,
        "--workdir",
        str(args.workdir),
    ]  # the last wins
    procs = [
        subprocess.Popen([*cmd, "--job", str(i), "--n", str(n)], stdout=subprocess.PIPE, text=True)
        for i in range(n)
    ]
    outs = [p.communicate()[0] for p in procs]
    failed = [i for i, p in enumerate(procs) if p.returncode != 0]
    if failed:
        raise SystemExit(f"{n} jobs: job(s) {failed} failed (their errors are above)")
    return [json.loads(out.strip().splitlines()[-1]) for out in outs]


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--jobs", type=int, nargs="+", default=[1, 2, 4, 8], help="concurrent jobs, each N in turn"
    )
    ap.add_argument("--batch", type=int, default=32, help="per job (the paper's 32)")
    ap.add_argument("--steps", type=int, default=100, help="timed steps per job")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first (compiling happens here)")
    ap.add_argument(
        "--workers", type=int, help="loader workers per job (default: its share of the cores - 1)"
    )
    ap.add_argument("--device", default=None, help="cuda when there is one, else cpu")
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    ap.add_argument("--compile", action="store_true", help="torch.compile each job's network")
    ap.add_argument("--compile-mode", help="torch.compile mode (implies --compile), e.g. reduce-overhead")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick its kernels by timing")
    ap.add_argument("--tiny", action="store_true", help="the tiny shapes of debug=tiny_shapes")
    ap.add_argument(
        "--videos", type=int, help=f"synthetic videos (150; --tiny: 16; --mosei-size: {MOSEI_VIDEOS})"
    )
    ap.add_argument("--mosei-size", action="store_true", help="a corpus of about MOSEI's size")
    ap.add_argument("--peak-tflops", type=float, help="the device's peak (default: looked up by name)")
    ap.add_argument("--models", type=int, default=PAPER_MODELS, help="the study: models ...")
    ap.add_argument("--seeds", type=int, default=5, help="... x seeds ...")
    ap.add_argument("--epochs", type=int, default=PAPER_EPOCHS, help="... x epochs (experiment=paper_*) ...")
    ap.add_argument("--train-segments", type=int, default=MOSEI_TRAIN, help="... over this many segments")
    ap.add_argument("--val-segments", type=int, default=MOSEI_VAL, help="validated each epoch")
    ap.add_argument("--workdir", type=Path, help="corpus and cache, kept (default: a temporary folder)")
    ap.add_argument("--job", type=int, help=argparse.SUPPRESS)  # a job process: its index ...
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)  # ... among n
    args = ap.parse_args(argv)
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    args.compile = args.compile or args.compile_mode is not None
    args.videos = args.videos or (MOSEI_VIDEOS if args.mosei_size else 16 if args.tiny else 150)
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.job is not None:
        if args.workers is None:
            args.workers = max(0, (os.cpu_count() or 1) // args.n - 1)
        print(json.dumps(run_job(args)))
        return
    keep = args.workdir is not None
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mosei_study_bench_"))
    try:
        study(args, argv)
    finally:
        if not keep:
            shutil.rmtree(args.workdir, ignore_errors=True)


def study(args: argparse.Namespace, argv: list[str]) -> None:
    """Build the shared cache, run each N of ``--jobs`` and print the table and the JSON line."""
    t0 = time.perf_counter()
    dm, _ = gpu.datamodule(args.workdir, args.videos, args.tiny, False)  # the shared cache, built once
    print(
        f"{len(dm.dataset('train'))} training segments in {args.workdir} ({time.perf_counter() - t0:.0f} s)"
    )
    work = dict(
        models=args.models,
        seeds=args.seeds,
        epochs=args.epochs,
        train=args.train_segments,
        val=args.val_segments,
    )
    results = []
    print(f"{'jobs':>4} {'job':>4} {'samples/s':>10} {'step ms':>8} {'wait %':>7} {'MFU %':>6} {'GiB':>6}")
    for n in args.jobs:
        r = summarise(launch(args, n, argv), work)
        for j in r["per_job"]:
            mfu = f"{100 * j['mfu']:6.1f}" if j["mfu"] is not None else "     -"
            gib = f"{j['peak_gib']:6.1f}" if j["peak_gib"] is not None else "     -"
            print(
                f"{n:>4} {j['job']:>4} {j['samples_per_s']:10.0f} {j['step_ms']:8.1f} "
                f"{100 * j['data_wait']:7.1f} {mfu} {gib}"
            )
        print(
            f"{n:>4}  all {r['aggregate_samples_per_s']:10.0f}   study projected "
            f"{r['projected_study_s'] / 60:.1f} min",
            flush=True,
        )
        results.append(r)
    best = max(results, key=lambda r: r["aggregate_samples_per_s"])
    print(
        json.dumps(
            {
                "device": results[0]["per_job"][0]["device"],
                "batch": args.batch,
                "steps": args.steps,
                "precision": args.precision,
                "compile": args.compile,
                "compile_mode": args.compile_mode,
                "tiny": args.tiny,
                "videos": args.videos,
                "train_segments_cached": len(dm.dataset("train")),
                "study": work,
                "val_cost": VAL_COST,
                "results": results,
                "best_n_jobs": best["n_jobs"],
                "best_projected_study_s": best["projected_study_s"],
            }
        )
    )


if __name__ == "__main__":
    main()
