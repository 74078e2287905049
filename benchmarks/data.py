"""Data pipeline benchmark: feature extraction, the spectrogram against librosa, loader throughput, and (an
option: slow) peak memory of a training run on a MOSEI-sized cache.

    python benchmarks/data.py [--videos 140] [--batch 32] [--workdir DIR] [--big-cache [--big-videos 3000]]
                              [--against COMMIT]

Extraction: whole cache builds with 1 process and with every core, and with every core without the voice
activity detector (seconds of audio per second). Spectrogram alone, one process, on audio in memory: this
project's, the previous one's and librosa's (skipped with a message when librosa, not a dependency, is not
installed). Loader: the training split of a warm cache at the paper's shapes, shuffled, ``--batch`` per step,
with 0 and 2 loader workers, and the previous per-item read (one HDF5 read per segment, float32 on the CPU,
torch's default collate) on the same file. ``--big-cache``: a synthetic corpus of ``--big-videos`` videos
(3000: 23,936 segments, 41 h of audio, ~ MOSEI's size; reused when present), its cache built by
``mosei_attn.prepare`` (~4.4 GB), and a short training run on it (attention, paper's settings, 2 loader
workers), beside the same run on the small corpus; each sampled for its process tree's resident memory
(``benchmarks/data_memory.py``).

The last line is one JSON object with every figure (ratios against the previous path of this run):
``extract_x_realtime`` (whole build, every core), ``extract_x_realtime_no_vad`` (the same without the voice
activity detector), ``vad_x_realtime_cpu`` (the detector alone, per CPU second), ``librosa_x_realtime`` (null
without librosa), ``loader_samples_per_s`` (batch ``--batch``, the faster of 0 and 2 loader workers:
``loader_workers``), ``loader_batch_ms`` (CPU milliseconds of each part of a batch: :func:`batch_costs`),
``peak_rss_gb`` (the larger peak of the big corpus's prepare and training run, as the process tree's PSS; null
without ``--big-cache``), and more. ``--against COMMIT`` runs this script as it was at COMMIT afterwards and
prints every figure of both with its ratio (``benchmarks/against.py``); they join the JSON as ``against``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' reference code
from against import against  # noqa: E402  (benchmarks/against.py, beside this script)
from data_memory import big_cache  # noqa: E402  (benchmarks/data_memory.py)

from mosei_attn.data.cache.build import build_cache
from mosei_attn.data.corpora.mosei import MoseiCorpus
from mosei_attn.data.datamodule import MoseiDataModule
from mosei_attn.data.features import extractors
from mosei_attn.data.features.audio import read_audio  # noqa: E402
from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures
from mosei_attn.synthetic.corpus_files import FOLDS_FILE
from mosei_attn.synthetic.writer import write_synthetic_corpus
from tests.reference_features import previous_compute  # noqa: E402

PAPER = AudioFeatures()  # the paper's 200 x 400 spectrogram (the defaults); words 40 x 300
SPEC_SAMPLE = 200  # segments timed by the spectrogram-only comparison


def extraction(segments, fingerprint: str, cache_dir: Path, workers: int) -> tuple[float, Path]:
    """Seconds to build the cache from nothing with ``workers`` processes, and its path."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    t0 = time.perf_counter()
    path = build_cache(
        segments, PAPER, TextFeatures(), cache_dir, "bench", fingerprint, workers=workers, progress=False
    )
    return time.perf_counter() - t0, path


def librosa_spectrogram(librosa, fa: AudioFeatures, x: np.ndarray, sr: int) -> np.ndarray:
    """The same spectrogram with librosa: its resampler (soxr_hq), STFT, power_to_db(ref=max, top_db)."""
    x = librosa.resample(x, orig_sr=sr, target_sr=fa.sample_rate, res_type="soxr_hq")
    stft = librosa.stft(
        x,
        n_fft=fa.n_fft,
        hop_length=fa.hop_length,
        win_length=fa.win_length,
        window=fa.window,
        center=True,
        pad_mode="constant",
    )
    power = (np.abs(stft[:-1]) ** 2).reshape(fa.freq_bins, fa.bin_group, -1).mean(axis=1)  # (F, frames)
    db = librosa.power_to_db(power, ref=np.max, amin=1e-10, top_db=fa.top_db)
    out = np.zeros((fa.freq_bins, fa.max_frames), dtype=np.float32)
    length = min(db.shape[1], fa.max_frames)
    out[:, :length] = np.where(power[:, :length] <= 1e-10, 0.0, db[:, :length] / fa.top_db + 1.0)
    return out


def spectrogram_rates(segments) -> dict:
    """Seconds of audio per second (one process) of each spectrogram implementation, on audio in memory."""
    audio = [read_audio(s.audio_path, s.start, s.end) for s in segments[:SPEC_SAMPLE]]
    seconds = sum(len(x) / sr for x, sr in audio)
    impls = {
        "this": lambda x, sr: PAPER.compute(x, sr)[0],
        "previous": lambda x, sr: previous_compute(PAPER, x, sr)[0],
    }
    try:
        import librosa

        impls["librosa"] = lambda x, sr: librosa_spectrogram(librosa, PAPER, x, sr)
    except ImportError:
        print("librosa is not installed: its comparison is skipped (pip install librosa to run it)")
    rates, outputs = {}, {}
    for name, fn in impls.items():
        fn(*audio[0])  # warm-up (imports, plans)
        t0 = time.perf_counter()
        outputs[name] = [fn(x, sr) for x, sr in audio]
        rates[name] = seconds / (time.perf_counter() - t0)
    for name in outputs:
        diff = max(float(np.abs(a - b).max()) for a, b in zip(outputs["this"], outputs[name], strict=True))
        print(f"  {name:>9}: {rates[name]:8.0f} x real time, max |difference| to this project's {diff:.1e}")
    rates |= speech_mask_cost(audio, seconds)
    return rates


def speech_mask_cost(audio: list, seconds: float, rounds: int = 3) -> dict:
    """CPU seconds (this process) of the spectrogram alone and of the spectrogram with its speech mask
    (``AudioFeatures.extract``, what the cache build runs), alternated ``rounds`` times: CPU time, so other
    processes on a shared machine slow neither side more than the other."""
    cpu = {"spectrogram": 0.0, "with speech mask": 0.0}
    fns = {"spectrogram": PAPER.compute, "with speech mask": PAPER.extract}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.process_time()
            for x, sr in audio:
                fn(x, sr)
            cpu[name] += time.process_time() - t0
    vad = seconds * rounds / (cpu["with speech mask"] - cpu["spectrogram"])
    print(
        f"  with the speech mask: {seconds * rounds / cpu['with speech mask']:8.0f} x real time per CPU "
        "second "
        f"(spectrogram alone {seconds * rounds / cpu['spectrogram']:.0f}); the detector alone {vad:.0f}"
    )
    return {"with_speech_mask_cpu": seconds * rounds / cpu["with speech mask"], "vad_cpu": vad}


class PerItemDataset(Dataset):
    """The previous loader path: one high-level HDF5 read per segment, float32 on the CPU."""

    def __init__(self, path: Path, rows: np.ndarray):
        self.path = path
        self.rows = rows
        self.f = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        self.f = self.f or h5py.File(self.path, "r")
        r = int(self.rows[i])
        return {
            "spec": torch.from_numpy(self.f["spec"][r].astype(np.float32))[None],
            "words": torch.from_numpy(self.f["words"][r].astype(np.float32)),
            "spec_len": torch.tensor(int(self.f["spec_len"][r])),
        }


def samples_per_s(loader, min_samples: int) -> tuple[float, float]:
    """(samples per wall second, per CPU second of this process) over whole epochs of ``loader``."""
    n = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while n < min_samples:
        for b in loader:
            n += len(b["spec"])
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def loader_rates(root: Path, cache_dir: Path, batch: int) -> dict:
    corpus = functools.partial(MoseiCorpus, root, folds=root / FOLDS_FILE)
    dm = MoseiDataModule(corpus, name="bench", cache_dir=str(cache_dir), batch_size=batch)
    dm.setup()
    n = len(dm.dataset("train"))
    samples_per_s(dm.train_dataloader(), 1)  # warm the page cache: the figures are for a warm cache
    out = {}
    for nw in (0, 2):
        dm.num_workers = nw
        wall, cpu = samples_per_s(dm.train_dataloader(), max(4 * n, 3000))
        out[f"workers{nw}"], out[f"workers{nw}_cpu"] = wall, cpu
    out["costs"] = batch_costs(dm, batch)
    old = DataLoader(PerItemDataset(dm.cache_path, dm.dataset("train").rows), batch_size=batch, shuffle=True)
    out["per_item"], _ = samples_per_s(old, max(n, 1000))
    return out


def batch_costs(dm: MoseiDataModule, batch: int, n_batches: int = 60) -> dict[str, float]:
    """CPU milliseconds of each part of one training batch (warm cache, no worker), over ``n_batches``
    shuffled batches: the HDF5 reads of spec and words (one per row, Fletcher-32 checked), the NaN check of a
    row's first read, the rest of ``FeatureCache.batch`` (lengths, labels), the dataset's tensors and targets,
    and the DataLoader's own work (sampler, fetch), each measured alone and in total."""
    ds = dm.dataset("train")
    cache, rng = ds.cache, np.random.default_rng(0)
    batches = [rng.permutation(len(ds))[:batch] for _ in range(n_batches)]

    def ms(fn) -> float:
        fn(batches[0])
        c0 = time.process_time()
        for b in batches:
            fn(b)
        return (time.process_time() - c0) / n_batches * 1e3

    costs: dict[str, float] = {}
    for key in ("spec", "words"):
        reader = cache._reader(key)
        out = np.empty((batch, *reader.shape), reader.dtype)

        def read(b: np.ndarray, reader=reader, out=out) -> None:
            rows = ds.rows[b]
            for j in np.argsort(rows, kind="stable"):
                reader.read(int(rows[j]), out[j : j + 1])

        costs[f"read_{key}"] = ms(read)
        costs[f"nan_check_{key}"] = ms(
            lambda b, reader=reader, out=out: [reader.finite(r) for r in out[: len(b)]]
        )
        costs[f"isfinite_{key}_every_batch"] = ms(lambda b, out=out: np.isfinite(out[: len(b)]).all())
    costs["cache_batch"] = ms(lambda b: cache.batch(ds.rows[b]))
    costs["dataset_batch"] = ms(lambda b: ds.__getitems__(list(b)))
    loader = dm.train_dataloader()
    c0 = time.process_time()
    k = 0
    for _ in loader:
        k += 1
    costs["loader_batch"] = (time.process_time() - c0) / k * 1e3
    return costs


def extraction_without_vad(segments, fingerprint: str, cache_dir: Path, workers: int) -> tuple[float, Path]:
    """:func:`extraction` with the voice activity detector left out: ``speech_frames`` answers all False
    in this process and in the workers it forks."""
    original = extractors.speech_frames
    extractors.speech_frames = lambda x, sample_rate, hop, n_frames, *_: np.zeros(n_frames, dtype=bool)
    try:
        return extraction(segments, fingerprint, cache_dir, workers)
    finally:
        extractors.speech_frames = original


def extraction_rates(segments, fingerprint: str, work: Path, seconds: float) -> dict:
    """Whole cache builds with 1 process and with every core, and with every core without the voice activity
    detector: seconds of audio per second of each."""
    cores = os.cpu_count() or 1
    builds = {w: extraction(segments, fingerprint, work / f"cache{w}", w) for w in sorted({1, cores})}
    no_vad = extraction_without_vad(segments, fingerprint, work / "cache_no_vad", cores)
    shutil.rmtree(work / "cache_no_vad", ignore_errors=True)
    print("\nfeature extraction, whole cache build (200 x 400 spectrograms + speech mask + 40 x 300 words)")
    for workers, (dt, _) in [*builds.items(), (f"{cores}, no VAD", no_vad)]:
        rate = seconds / dt
        print(
            f"  {workers} process(es): {dt:6.1f} s, {len(segments) / dt:6.1f} segments/s, {rate:6.0f} x real "
            "time"
        )
    print(f"  the voice activity detector costs {100 * (1 - no_vad[0] / builds[cores][0]):.0f}% of the build")
    size = builds[cores][1].stat().st_size
    print(f"  cache: {size / len(segments) / 1024:.1f} KiB per segment")
    return {
        "all": seconds / builds[cores][0],
        "one": seconds / builds[1][0],
        "no_vad": seconds / no_vad[0],
        "cache": work / f"cache{cores}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=140, help="synthetic videos (~7.7 segments each)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workdir", type=Path, default=None, help="kept afterwards (default: a temporary one)")
    ap.add_argument("--big-cache", action="store_true", help="also the slow peak-memory run (see above)")
    ap.add_argument("--big-videos", type=int, default=3000, help="videos of the --big-cache corpus")
    ap.add_argument(
        "--against", metavar="COMMIT", help="also this script at COMMIT, and the ratios (against.py)"
    )
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mosei_bench_"))
    root = work / "corpus"
    write_synthetic_corpus(root, n_videos=args.videos, seed=1)
    corpus = MoseiCorpus(root, folds=root / FOLDS_FILE)
    segments, _ = corpus.scan()
    seconds = sum(s.duration for s in segments)
    print(f"{len(segments)} segments, {seconds / 60:.1f} min of audio; cpu cores: {os.cpu_count()}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (figures are noisy on a shared CPU)")
    extract = extraction_rates(segments, corpus.fingerprint(), work, seconds)
    print(f"\nspectrogram only, 1 process, {min(len(segments), SPEC_SAMPLE)} segments already read")
    spec = spectrogram_rates(segments)
    print(f"\nloader, batch {args.batch}, training split shuffled, warm cache")
    load = loader_rates(root, extract["cache"], args.batch)
    for key in ("workers0", "workers2", "per_item"):
        print(f"  {key:>9}: {load[key]:8.0f} samples/s")
    costs = load["costs"]
    print(
        "  CPU ms of one batch's parts (one process): "
        f"{json.dumps({k: round(v, 2) for k, v in costs.items()})}"
    )
    print(
        f"  one process reads {load['workers0_cpu']:.0f} samples per CPU second: a GPU fed by W loader "
        "workers on free cores gets about W x that (each worker reads whole batches on its own)"
    )
    big = big_cache(work, args.big_videos, args.videos) if args.big_cache else None
    result = {
        "extract_x_realtime": extract["all"],
        "extract_x_realtime_1proc": extract["one"],
        "extract_x_realtime_no_vad": extract["no_vad"],
        "extract_with_speech_mask_x_realtime_cpu": spec["with_speech_mask_cpu"],
        "vad_x_realtime_cpu": spec["vad_cpu"],
        "spectrogram_x_realtime_1proc": spec["this"],
        "spectrogram_vs_previous": spec["this"] / spec["previous"],
        "librosa_x_realtime": spec.get("librosa"),
        "spectrogram_vs_librosa": spec["this"] / spec["librosa"] if "librosa" in spec else None,
        "loader_samples_per_s": max(load["workers0"], load["workers2"]),
        "loader_workers": 0 if load["workers0"] >= load["workers2"] else 2,
        "loader_samples_per_s_0workers": load["workers0"],
        "loader_samples_per_s_2workers": load["workers2"],
        "loader_samples_per_cpu_s": load["workers0_cpu"],
        "loader_per_item_samples_per_s": load["per_item"],
        "loader_batch_ms": costs,
        "loader_vs_per_item": max(load["workers0"], load["workers2"]) / load["per_item"],
        "peak_rss_gb": max(big["prepare"]["peak_pss_gb"], big["train"]["peak_pss_gb"]) if big else None,
        "big_cache": big,
        "load_average": os.getloadavg()[0],
    }
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    result["against"] = against(args.against, "benchmarks/data.py", result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
