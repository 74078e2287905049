"""Writing one synthetic corpus's files: each video's WAV and transcript (in parallel processes), then the
csds, the cue truth, the folds and the GloVe file (see :mod:`mosei_attn.synthetic.writer`)."""

from __future__ import annotations

import json
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from mosei_attn.data.corpora.csd import write_csd
from mosei_attn.data.corpora.labels import EMOTIONS, LABEL_COLUMNS
from mosei_attn.data.corpora.mosei_layout import (
    AUDIO_DIR,
    FOLD_NAMES,
    LABELS_FILE,
    TRANSCRIPT_DIR,
    VECTORS_FILE,
    WORDS_FILE,
)
from mosei_attn.pool_workers import end_with_parent
from mosei_attn.synthetic.config import MODES, SyntheticConfig
from mosei_attn.synthetic.content import NEUTRAL_WORDS, assign_folds, count_of, video_ids, vocabulary
from mosei_attn.synthetic.cue_truth import TRUTH_FILE
from mosei_attn.synthetic.speech import render_video

FOLDS_FILE = "folds.json"
GLOVE_FILE = "glove.synthetic.300d.txt"
#: The generator's name recorded in the csd metadata and the stamp (its module path when format version 1 was
#: defined): kept, so that the same parameters still give byte-identical files.
GENERATOR_NAME = "mosei_attn.data.synthetic"


class _Serial(Executor):
    """``map`` in this process (one worker, or a handful of videos: a pool is not worth starting)."""

    def map(self, fn, *iterables, **kwargs):  # type: ignore[override]
        return map(fn, *iterables)


def _pool(workers: int | None, n_jobs: int) -> AbstractContextManager:
    n = min(workers or os.cpu_count() or 1, n_jobs)
    if n <= 1 or n_jobs < 8:
        return nullcontext(_Serial())
    # workers killed with this process (SIGKILL, OOM): they would wait for work forever
    return ProcessPoolExecutor(n, initializer=end_with_parent, initargs=(os.getpid(),))


def _write_video(job: tuple) -> dict[str, Any]:
    """Render one video and write its WAV and transcript; what the csds need from it (small arrays)."""
    out, cfg, zipf, stream, vid, flags = job
    v = render_video(np.random.default_rng(stream), vid, cfg, zipf, *flags)
    wav = out / AUDIO_DIR / f"{vid}.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, v.audio, cfg.sample_rate, subtype="PCM_16")
    txt = out / TRANSCRIPT_DIR / f"{vid}.txt"
    txt.parent.mkdir(parents=True, exist_ok=True)
    txt.write_text("\n".join(v.transcript) + "\n", encoding="utf-8")
    return {
        "labels": v.labels,
        "label_iv": v.label_iv,
        "words": v.words,
        "word_iv": v.word_iv,
        "truth": v.truth,
        "classes": v.classes,
        "seconds": v.audio.size / cfg.sample_rate,
    }


def _metadata(description: str, dims: list[str] | None) -> dict[str, Any]:
    return {
        "computational sequence description": description,
        "dimension names": dims,
        "computational sequence version": "1.0",
        "alignment compatible": True,
        "dataset name": "CMU-MOSEI (synthetic)",
        "dataset version": "1.0",
        "creator": GENERATOR_NAME,
        "contact": "",
        "featureset bib citation": "",
        "dataset bib citation": "",
    }


def generate(out: Path, cfg: SyntheticConfig, workers: int | None = None) -> dict[str, Any]:
    """Write the whole corpus into ``out``; returns the summary stored in the stamp.

    Videos are rendered by ``workers`` processes (None: every core); each from its own random stream, so
    the files are the same whatever the number of workers."""
    streams = np.random.SeedSequence(cfg.seed).spawn(cfg.n_videos + 2)  # 0 layout, 1 vocabulary, 2+ videos
    rng = np.random.default_rng(streams[0])
    vocab = vocabulary(cfg)
    ids = video_ids(rng, cfg)
    folds = assign_folds(rng, ids, cfg)
    flags = [
        set(rng.choice(cfg.n_videos, count_of(cfg.n_videos, f), replace=False).tolist())
        for f in (cfg.negative_start_fraction, cfg.underscore_text_fraction, cfg.shuffled_rows_fraction)
    ]
    zipf = 1.0 / (np.arange(len(NEUTRAL_WORDS)) + cfg.zipf_offset)
    zipf /= zipf.sum()
    fold_of = {v: f for f, vs in folds.items() for v in vs}
    counts = {f: dict.fromkeys(EMOTIONS, 0) for f in (*FOLD_NAMES, "none")}
    labels = {}
    words = {}
    vectors = {}
    truth = {}
    seconds = 0.0
    zero = np.zeros(cfg.vector_dim, np.float32)
    jobs = [(out, cfg, zipf, streams[2 + i], vid, tuple(i in f for f in flags)) for i, vid in enumerate(ids)]
    with _pool(workers, len(jobs)) as pool:
        for vid, v in zip(ids, pool.map(_write_video, jobs, chunksize=4), strict=True):
            labels[vid] = (v["labels"], v["label_iv"])
            words[vid] = (np.array([w.encode() for w in v["words"]]).reshape(-1, 1), v["word_iv"])
            vectors[vid] = (np.stack([vocab.get(w, zero) for w in v["words"]]), v["word_iv"])  # `sp` -> 0
            truth[vid] = v["truth"]
            seconds += v["seconds"]
            for c in v["classes"]:
                counts[fold_of.get(vid, "none")][EMOTIONS[c]] += 1
    write_csd(
        out / LABELS_FILE,
        "All Labels",
        labels,
        _metadata("Synthetic sentiment and emotion labels per segment", list(LABEL_COLUMNS)),
    )
    write_csd(out / WORDS_FILE, "words", words, _metadata("Synthetic time-stamped words", None))
    write_csd(
        out / VECTORS_FILE,
        "glove_vectors",
        vectors,
        _metadata("Synthetic GloVe-like word vectors of the time-stamped words", None),
    )
    (out / TRUTH_FILE).write_text(
        json.dumps({"modes": list(MODES), "videos": truth}) + "\n", encoding="utf-8"
    )
    (out / FOLDS_FILE).write_text(json.dumps(folds, indent=1) + "\n", encoding="utf-8")
    with open(out / GLOVE_FILE, "w", encoding="utf-8") as f:
        for w, vec in vocab.items():
            f.write(w + " " + " ".join(f"{x:.5f}" for x in vec) + "\n")
    return {
        "videos": {f: len(vs) for f, vs in folds.items()} | {"none": cfg.n_unfolded_videos},
        "segments": {f: sum(c.values()) for f, c in counts.items()},
        "classes": counts,
        "audio_seconds": round(seconds, 1),
    }
