"""Peak memory of the data pipeline at MOSEI's size, for ``benchmarks/data.py --big-cache``: a synthetic
corpus of that many videos, its cache built by ``mosei_attn.prepare`` and a short training run on it, beside
the same run on the small corpus, each sampled for its process tree's resident memory."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from mosei_attn.synthetic.writer import write_synthetic_corpus


def tree_memory(pid: int) -> dict[str, int]:
    """Bytes resident now: ``pss`` (proportional set size: a page shared by k processes counts 1/k, so the
    tree's sum is its real footprint), ``rss`` (summed RSS: shared pages once per process, an over-count)
    of process ``pid`` and its descendants, and ``main`` (RSS of ``pid`` alone)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    total = {"pss": 0, "rss": 0, "main": 0}
    todo = [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("Rss", "Pss"):
                    kb = int(value.split()[0]) * 1024
                    total[key.lower()] += kb
                    total["main"] += kb if (p == pid and key == "Rss") else 0
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


def run_sampled(cmd: list[str], log: Path) -> dict[str, float]:
    """Run ``cmd``; its wall seconds and the peaks (GB) of :func:`tree_memory`, sampled every 0.2 s."""
    t0, peak = time.perf_counter(), {"pss": 0, "rss": 0, "main": 0}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            peak = {
                k: max(v, now)
                for (k, v), now in zip(peak.items(), tree_memory(proc.pid).values(), strict=True)
            }
            time.sleep(0.2)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return {"seconds": time.perf_counter() - t0, **{f"peak_{k}_gb": v / 1e9 for k, v in peak.items()}}


def data_overrides(work: Path, root: Path, videos: int, tag: str) -> list[str]:
    """Overrides for a synthetic corpus of ``videos`` videos (seed 1) at ``root``, paper shapes, under
    work."""
    return [
        f"data.root={root}",
        f"data.write_corpus.n_videos={videos}",
        "data.write_corpus.seed=1",
        "data/audio=paper",
        f"paths.cache_dir={work / f'{tag}_cache'}",
        f"paths.log_dir={work / f'{tag}_logs'}",
    ]


def big_cache(work: Path, videos: int, small_videos: int) -> dict:
    """Peak memory of prepare (cache build) and of a short training run on a ``videos``-video corpus, and of
    the same training run on the ``small_videos`` corpus (what the model itself takes)."""
    root, t0 = work / "big", time.perf_counter()
    write_synthetic_corpus(root, n_videos=videos, seed=1)
    print(f"big corpus: {videos} videos ready in {time.perf_counter() - t0:.0f} s (reused when present)")
    train = [
        sys.executable,
        "-m",
        "mosei_attn.train",
        "experiment=paper_attention",
        "data.num_workers=2",
        "logger=csv",
        "callbacks.progress_bar=null",
        "trainer.max_epochs=1",
        "++trainer.limit_train_batches=12",
        "++trainer.limit_val_batches=4",
        "++trainer.limit_test_batches=4",
    ]
    runs = {
        "prepare": [sys.executable, "-m", "mosei_attn.prepare", *data_overrides(work, root, videos, "big")],
        "train": [*train, *data_overrides(work, root, videos, "big")],
        "train_small": [*train, *data_overrides(work, work / "corpus", small_videos, "small")],
    }
    figures = {}
    print(
        "peak resident memory of the process tree (PSS: shared pages split; RSS summed: counted per process)"
    )
    for name, cmd in runs.items():
        f = figures[name] = run_sampled(cmd, work / f"big_{name}.log")
        print(
            f"  {name:>11}: {f['seconds']:6.0f} s, PSS {f['peak_pss_gb']:.2f} GB, summed RSS "
            f"{f['peak_rss_gb']:.2f} GB, main process {f['peak_main_gb']:.2f} GB"
        )
    cache = next((work / "big_cache").glob("synthetic-*.h5"))
    figures["cache_gb"] = cache.stat().st_size / 1e9
    print(f"  big cache {figures['cache_gb']:.2f} GB on disk")
    return figures
