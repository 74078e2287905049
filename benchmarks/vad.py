"""Voice activity detectors on the synthetic corpus: what each hears as speech, against the generator's truth.

    python benchmarks/vad.py [--root data/synthetic] [--fold test] [--limit N]

Per detector, on the spectrogram frames of the default run's features (``conf/data/audio/demo.yaml``: 40 ms
hop), each frame judged by the detector's frame holding its centre:

- recall on the stressed words' frames (the cue truth, ``SYNTHETIC_TRUTH.json``), per class (the segment's
  argmax label) and per cue mode;
- recall on every word's frames (the words csd's intervals);
- false positives: the share of the frames between two words (the pauses) called speech, and of the frames
  before the first word and after the last (the segment's margins);
- speed: seconds of audio per second of one process (x real time), on audio already read and resampled.

A detector that is not installed is left out with a message. The last line is one JSON object with every
figure. The candidates: ``webrtcvad`` (pip webrtcvad-wheels: Google's WebRTC GMM detector, C, 10-30 ms
frames at 8/16/32/48 kHz), aggressiveness 0-3; silero-vad (pip silero-vad: a small LSTM network, its
TorchScript weights inside the wheel, 32 ms chunks at 8 or 16 kHz, needs torch only) at thresholds 0.5, 0.3.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mosei_attn.data.corpora.csd import ComputationalSequence, words_to_str  # noqa: E402
from mosei_attn.data.corpora.labels import EMOTIONS  # noqa: E402
from mosei_attn.data.corpora.mosei import MoseiCorpus  # noqa: E402
from mosei_attn.data.features.audio import read_span, resample  # noqa: E402
from mosei_attn.data.features.extractors import AudioFeatures  # noqa: E402
from mosei_attn.synthetic.cue_truth import read_cue_truth  # noqa: E402

DEMO = AudioFeatures(hop_length=320, freq_bins=100, max_frames=200)  # conf/data/audio/demo.yaml


def frame_times(fa: AudioFeatures, n: int) -> np.ndarray:
    """Centre (s, from the cut's start) of each of the first ``n`` spectrogram frames (centred frames)."""
    return np.arange(n) * fa.hop_length / fa.sample_rate


def webrtc_detector(mode: int, frame_ms: int = 10):
    import webrtcvad

    vad = webrtcvad.Vad(mode)

    def detect(x8: np.ndarray) -> tuple[np.ndarray, float]:
        n = 8 * frame_ms
        pcm = (np.clip(x8, -1, 1) * 32767).astype("<i2")
        k = len(pcm) // n
        raw = pcm[: k * n].tobytes()
        flags = np.array([vad.is_speech(raw[2 * i * n : 2 * (i + 1) * n], 8000) for i in range(k)], bool)
        return flags, frame_ms / 1000

    return detect


def silero_detector(threshold: float, memo: dict):
    """silero-vad's speech probability per 32 ms chunk, against ``threshold``; the probabilities of one
    audio array are computed once for every threshold (``memo``), so the second threshold's speed is not
    the network's."""
    import torch
    from silero_vad import load_silero_vad

    model = load_silero_vad()
    torch.set_num_threads(1)

    def detect(x8: np.ndarray) -> tuple[np.ndarray, float]:
        if id(x8) not in memo:
            model.reset_states()
            with torch.no_grad():
                memo[id(x8)] = model.audio_forward(torch.from_numpy(np.ascontiguousarray(x8)), 8000)[
                    0
                ].numpy()
        return memo[id(x8)] >= threshold, 256 / 8000

    return detect


def candidates() -> dict:
    out = {}
    try:
        for mode in (0, 1, 2, 3):
            for ms in (10, 20, 30):
                out[f"webrtcvad mode {mode} {ms} ms"] = webrtc_detector(mode, ms)
    except ImportError as e:
        print(f"webrtcvad left out: {e}")
    try:
        memo: dict = {}
        for th in (0.5, 0.3):
            out[f"silero-vad {th}"] = silero_detector(th, memo)
        out["silero-vad 0.3"].reused = True  # the probabilities of 0.5's run: no speed of its own
    except ImportError as e:
        print(f"silero-vad left out: {e}")
    return out


def word_intervals(root: Path) -> dict[str, np.ndarray]:
    """Per video, the (W, 2) intervals of its words (``sp`` silences dropped)."""
    out = {}
    with ComputationalSequence(root / "CMU_MOSEI_TimestampedWords.csd") as words:
        for video in words:
            feat, iv = words[video]
            keep = np.array([t != "sp" for t in words_to_str(feat)], dtype=bool)
            out[video] = iv[keep]
    return out


def segment_truth(seg, words: np.ndarray, stressed: list, n: int) -> dict[str, np.ndarray]:
    """Frames (n,) bool of one segment: ``word`` (inside a word), ``stress`` (inside a stressed word),
    ``pause`` (between two words), ``margin`` (before the first or after the last word, in the cut)."""
    t = seg.start + frame_times(DEMO, n)
    inside = [(a, b) for a, b in words if b > seg.start and a < seg.end]
    word = np.zeros(n, bool)
    for a, b in inside:
        word |= (t >= a) & (t < b)
    stress = np.zeros(n, bool)
    for a, b in stressed:
        stress |= (t >= a) & (t < b)
    first, last = min(a for a, _ in inside), max(b for _, b in inside)
    between = (t >= first) & (t < last)
    return {"word": word, "stress": stress, "pause": between & ~word, "margin": ~between & (t < seg.end)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="data/synthetic")
    ap.add_argument("--fold", default="test")
    ap.add_argument("--limit", type=int, default=0, help="at most this many segments (0: all)")
    args = ap.parse_args()
    root = Path(args.root)
    truth = read_cue_truth(root)
    corpus = MoseiCorpus(root, folds=root / "folds.json", word_dim=300)
    segments = [s for s in corpus.iter_segments() if s.fold == args.fold]
    if args.limit:
        segments = segments[: args.limit]
    words = word_intervals(root)
    audio, frames = [], []
    for seg in segments:
        span = read_span(seg.audio_path, seg.start, seg.end, DEMO.sample_rate, DEMO.seconds_seen)
        x8 = resample(span.samples, span.sample_rate, 8000)
        n = DEMO.n_frames_for(len(x8) / 8000)
        entry = truth.videos[seg.video_id][seg.index]
        audio.append(x8)
        frames.append((segment_truth(seg, words[seg.video_id], entry["stressed"], n), entry["mode"]))
    seconds = sum(len(x) for x in audio) / 8000
    print(
        f"{len(segments)} {args.fold} segments, {seconds:.0f} s of audio; frames of {DEMO.hop_length} samples"
    )
    results = {}
    for name, detect in candidates().items():
        t0 = time.perf_counter()
        raw = [detect(x) for x in audio]
        speed = None if getattr(detect, "reused", False) else seconds / (time.perf_counter() - t0)
        hits = defaultdict(lambda: [0, 0])  # key -> [speech frames, frames]
        for seg, (flags, step), (tr, mode) in zip(segments, raw, frames, strict=True):
            n = len(tr["word"])
            idx = np.minimum((frame_times(DEMO, n) / step).astype(int), len(flags) - 1)
            speech = flags[idx]
            cls = EMOTIONS[int(np.argmax(seg.labels[1:]))]
            for key, m in (
                ("word", tr["word"]),
                ("pause", tr["pause"]),
                ("margin", tr["margin"]),
                ("stress", tr["stress"]),
                (f"stress {cls}", tr["stress"]),
                (f"stress {mode}", tr["stress"]),
            ):
                hits[key][0] += int(speech[m].sum())
                hits[key][1] += int(m.sum())
        row = {k: 100 * s / max(t, 1) for k, (s, t) in hits.items()}
        row["x_realtime"] = speed
        results[name] = row
        print(f"\n{name}: " + (f"{speed:,.0f}x real time (one process)" if speed else "speed: as above"))
        print("  " + ", ".join(f"{k} {v:.1f}%" for k, v in sorted(row.items()) if k != "x_realtime"))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
