"""Tiny MOSEI-layout corpora for the reader tests: a few videos, a few segments each, short sine WAVs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from mosei_attn.data.corpora.csd import write_csd
from mosei_attn.data.corpora.labels import LABEL_COLUMNS
from mosei_attn.data.corpora.mosei_layout import (
    AUDIO_DIR,
    LABELS_FILE,
    TRANSCRIPT_DIR,
    VECTORS_FILE,
    WORDS_FILE,
)

WORD_DIM = 4
SAMPLE_RATE = 16_000
WAV_SECONDS = 0.1  # the reader never reads audio, so the WAVs only have to exist and be valid


def label_row(video_no: int, seg_no: int) -> list[float]:
    """A distinct 7-column label row per (video, segment), so tests can tell rows apart."""
    return [float(video_no) - 1.5, seg_no / 3, 0.0, 1 / 3, 0.0, 2 / 3, 1.0]


def word_vector(row: int) -> np.ndarray:
    """The vector stored for the word in row ``row`` of an entry: every component is ``row + 1``."""
    return np.full(WORD_DIM, row + 1, dtype=np.float32)


#: video -> segments [(start, end)], words [(word, start, end)], transcript lines or None, has a WAV.
VIDEOS: dict[str, dict] = {
    "vidA": {
        "segments": [(-0.5, 2.0), (2.0, 4.0), (4.0, 4.0), (5.0, 6.0)],  # 3rd: zero length; 4th: no words
        "words": [
            ("sp", 0.0, 0.3),
            ("hello", 0.3, 0.8),
            ("world", 0.9, 1.5),
            ("sp", 1.5, 2.2),
            ("good", 2.1, 2.6),
            ("day", 2.7, 3.5),
        ],
        "transcript": ["vidA___1___-0.5___2.0___hello world", "vidA___2___2.0___4.0___good __ day ___ fine"],
        "wav": True,
    },
    "81406": {"segments": [(0.0, 1.0)], "words": [("yes", 0.2, 0.6)], "transcript": None, "wav": True},
    "noWav": {
        "segments": [(0.0, 1.0), (1.0, 2.0)],
        "words": [("a", 0.1, 0.2), ("b", 1.1, 1.2)],
        "transcript": None,
        "wav": False,
    },
    "orphan": {"segments": [(0.0, 1.0)], "words": [("c", 0.1, 0.2)], "transcript": None, "wav": True},
}
FOLDS = {"train": ["vidA"], "valid": ["81406"], "test": ["noWav"]}  # "orphan" is in no fold


def write_sine_wav(path: Path, seconds: float = WAV_SECONDS, freq: float = 440.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    sf.write(path, (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SAMPLE_RATE)


def spoken(n_words: int, db: float, seed: int = 0) -> np.ndarray:
    """``n_words`` words as the synthetic corpus speaks them (neutral prosody, short pauses between them) at
    ``SAMPLE_RATE``, ``db`` below an RMS of 0.1: float32."""
    from mosei_attn.synthetic.config import SyntheticConfig
    from mosei_attn.synthetic.content import PROSODY
    from mosei_attn.synthetic.speech import _Speaker, _word_audio

    cfg = SyntheticConfig(sample_rate=SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    level = 0.1 * 10 ** (db / 20)
    parts = []
    for i in range(n_words):
        parts.append(
            _word_audio(rng, f"word{i}", PROSODY["neutral"], 120.0, level, _Speaker(120.0, 1.0, 0.0), cfg)
        )
        parts.append(np.zeros(int(rng.uniform(0.03, 0.15) * SAMPLE_RATE)))
    return np.concatenate(parts).astype(np.float32)


def build_corpus(
    root: Path,
    videos: dict[str, dict] = VIDEOS,
    folds: dict = FOLDS,
    dimension_names: list[str] | None = None,
) -> Path:
    """Write a corpus folder under ``root``; returns the folds JSON path (written beside it)."""
    labels = {}
    words = {}
    vectors = {}
    for v_no, (video, spec) in enumerate(videos.items()):
        seg_iv = np.array(spec["segments"], dtype=np.float64)
        labels[video] = (np.array([label_row(v_no, s) for s in range(len(seg_iv))], np.float32), seg_iv)
        w_iv = np.array([(s, e) for _, s, e in spec["words"]], dtype=np.float64)
        words[video] = (np.array([[w.encode()] for w, _, _ in spec["words"]]), w_iv)
        vectors[video] = (np.stack([word_vector(j) for j in range(len(w_iv))]), w_iv)
        if spec["wav"]:
            write_sine_wav(root / AUDIO_DIR / f"{video}.wav")
        if spec["transcript"] is not None:
            (root / TRANSCRIPT_DIR).mkdir(parents=True, exist_ok=True)
            (root / TRANSCRIPT_DIR / f"{video}.txt").write_text("\n".join(spec["transcript"]) + "\n")
    names = list(LABEL_COLUMNS) if dimension_names is None else dimension_names
    write_csd(root / LABELS_FILE, "All Labels", labels, {"dimension names": names})
    write_csd(root / WORDS_FILE, "words", words)
    write_csd(root / VECTORS_FILE, "glove_vectors", vectors)
    folds_path = root.parent / f"{root.name}_folds.json"
    folds_path.write_text(json.dumps(folds))
    return folds_path
