"""Data pipeline benchmark: feature extraction (1 vs all cores), cache size, loader throughput.

    python benchmarks/data.py [--videos 140] [--batch 32] [--workdir /tmp/mosei_bench]

Prints segments/s and seconds of audio per second for extraction with 1 process and with every core (the
ratio is against the 1-process figure of the same run), the cache size per segment, and DataLoader samples/s
reading the cache at the training batch size with 0 and 2 loader workers.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import time
from pathlib import Path

from mosei_attn.data.cache import build_cache
from mosei_attn.data.corpus import MoseiCorpus
from mosei_attn.data.datamodule import MoseiDataModule
from mosei_attn.data.features import AudioFeatures, TextFeatures
from mosei_attn.synthetic.writer import FOLDS_FILE, write_synthetic_corpus


def extraction(segments, fingerprint: str, cache_dir: Path, workers: int) -> tuple[float, Path]:
    shutil.rmtree(cache_dir, ignore_errors=True)
    t0 = time.perf_counter()
    path = build_cache(
        segments,
        AudioFeatures(),
        TextFeatures(),
        cache_dir,
        "bench",
        fingerprint,
        workers=workers,
        progress=False,
    )
    return time.perf_counter() - t0, path


def loader_throughput(root: Path, cache_dir: Path, batch: int, num_workers: int, epochs: int = 2) -> float:
    dm = MoseiDataModule(
        functools.partial(MoseiCorpus, root, folds=root / FOLDS_FILE),
        name="bench",
        cache_dir=str(cache_dir),
        batch_size=batch,
        num_workers=num_workers,
    )
    dm.setup()
    loader = dm.train_dataloader()
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for b in loader:
            n += len(b["target"])
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=140, help="synthetic videos (~7.9 segments each)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mosei_bench_"))
    root = work / "corpus"
    t0 = time.perf_counter()
    write_synthetic_corpus(root, n_videos=args.videos, seed=1)
    print(f"synthetic corpus: {args.videos} videos in {time.perf_counter() - t0:.1f} s -> {root}")
    corpus = MoseiCorpus(root, folds=root / FOLDS_FILE)
    segments, _ = corpus.scan()
    seconds = sum(min(s.duration, 1e9) for s in segments)
    print(f"{len(segments)} segments, {seconds / 60:.1f} min of audio; cpu cores: {os.cpu_count()}")
    rows = []
    for workers in (1, os.cpu_count() or 1):
        dt, path = extraction(segments, corpus.fingerprint(), work / f"cache{workers}", workers)
        rows.append((workers, dt))
    base = rows[0][1]
    print("\nfeature extraction (200 x 400 spectrograms + 40 x 300 words)")
    print(f"{'processes':>10} {'seconds':>8} {'segments/s':>11} {'audio s/s':>10} {'vs 1 proc':>10}")
    for workers, dt in rows:
        print(
            f"{workers:>10} {dt:>8.1f} {len(segments) / dt:>11.1f} {seconds / dt:>10.1f} {base / dt:>9.2f}x"
        )
    size = path.stat().st_size
    print(
        f"\ncache: {size / 2**20:.1f} MiB, {size / len(segments) / 1024:.1f} KiB per segment (float16, lzf)"
    )
    print(f"\nloader, batch {args.batch} (train split, shuffled, 2 epochs)")
    base_rate = None
    for nw in (0, 2):
        rate = loader_throughput(root, work / f"cache{rows[-1][0]}", args.batch, nw)
        base_rate = base_rate or rate
        print(f"  num_workers={nw}: {rate:8.1f} samples/s ({rate / base_rate:.2f}x)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
