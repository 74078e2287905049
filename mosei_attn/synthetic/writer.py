"""A small synthetic corpus in the REAL CMU-MOSEI on-disk layout, read by the same reader.

Real MOSEI cannot be downloaded here, so the default run, the tests and CI use this corpus instead. Each
segment's dominant emotion shows in its WORDS (emotion words whose vectors cluster around an emotion
centroid, among many neutral words), in its PROSODY (per emotion: pitch level and range, loudness, tempo,
jitter) and in the two TOGETHER: the emotion word is spoken with the emotion's prosody (stressed) while the
rest of the sentence stays near neutral. Some segments carry one cue only, or an emotion word of another
(distractor) emotion spoken flatly, so neither modality alone is perfect but both together are informative.

Written under ``root`` (the names the reader in :mod:`mosei_attn.data.layout` names)::

    CMU_MOSEI_Labels.csd                      All Labels: (N, 7) per video, LABEL_COLUMNS order
    CMU_MOSEI_TimestampedWords.csd            words: (W, 1) bytes per video, ``sp`` rows for silences
    CMU_MOSEI_TimestampedWordVectors.csd      glove_vectors: (W, 300) float32, the words' rows/intervals
    Raw/Audio/Full/WAV_16000/<video>.wav      the full video, 16 kHz mono PCM_16
    Raw/Transcript/Segmented/Combined/<video>.txt   video___clip___start___end___text
    folds.json                                {"train": [...], "valid": [...], "test": [...]}
    glove.synthetic.300d.txt                  the vocabulary as a GloVe text file, to embed free text
    SYNTHETIC.json                            the parameters (written last: marks a complete corpus)

Speech is source-filter synthesis: a band-limited harmonic pulse train on a pitch contour with jitter,
spectral tilt, and three formant resonators per syllable (a vowel chosen by the word), unvoiced noise
bursts at some syllable onsets, pauses between words, and background noise at a modest SNR.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from mosei_attn.data.csd import write_csd
from mosei_attn.data.labels import EMOTIONS, LABEL_COLUMNS
from mosei_attn.data.layout import (
    AUDIO_DIR,
    FOLD_NAMES,
    LABELS_FILE,
    TRANSCRIPT_DIR,
    VECTORS_FILE,
    WORDS_FILE,
)
from mosei_attn.synthetic.config import SyntheticConfig
from mosei_attn.synthetic.script import NEUTRAL_WORDS, assign_folds, count_of, video_ids, vocabulary
from mosei_attn.synthetic.speech import render_video

FOLDS_FILE = "folds.json"
GLOVE_FILE = "glove.synthetic.300d.txt"
STAMP_FILE = "SYNTHETIC.json"
#: Bump when the generator's output changes for the same parameters: a stamped folder then mismatches.
CORPUS_FORMAT_VERSION = 1
#: The generator's name recorded in the csd metadata and the stamp (its module path when format version 1 was
#: defined): kept, so that the same parameters still give byte-identical files.
GENERATOR_NAME = "mosei_attn.data.synthetic"


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


def _generate(out: Path, cfg: SyntheticConfig) -> dict[str, Any]:
    """Write the whole corpus into ``out``; returns the summary stored in the stamp."""
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
    labels, words, vectors, seconds = {}, {}, {}, 0.0
    zero = np.zeros(cfg.vector_dim, np.float32)
    for i, vid in enumerate(ids):
        v = render_video(np.random.default_rng(streams[2 + i]), vid, cfg, zipf, *(i in f for f in flags))
        wav = out / AUDIO_DIR / f"{vid}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, v.audio, cfg.sample_rate, subtype="PCM_16")
        txt = out / TRANSCRIPT_DIR / f"{vid}.txt"
        txt.parent.mkdir(parents=True, exist_ok=True)
        txt.write_text("\n".join(v.transcript) + "\n", encoding="utf-8")
        labels[vid] = (v.labels, v.label_iv)
        words[vid] = (np.array([w.encode() for w in v.words]).reshape(-1, 1), v.word_iv)
        vectors[vid] = (np.stack([vocab.get(w, zero) for w in v.words]), v.word_iv)  # `sp` -> zeros
        seconds += v.audio.size / cfg.sample_rate
        for c in v.classes:
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


def read_stamp(root: str | os.PathLike) -> dict[str, Any] | None:
    """The ``SYNTHETIC.json`` stamp of a complete synthetic corpus, or None where there is none."""
    path = Path(root) / STAMP_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path}: unreadable synthetic-corpus stamp ({e}); delete the folder to rebuild"
        ) from e


def _matches(stamp: dict[str, Any] | None, cfg: SyntheticConfig) -> bool:
    return (
        stamp is not None
        and stamp.get("format_version") == CORPUS_FORMAT_VERSION
        and stamp.get("config") == cfg.to_json()
    )


def _config(config: SyntheticConfig | None, given: dict[str, Any]) -> SyntheticConfig:
    """``config`` (default: ``SyntheticConfig()``) with the ``given`` fields that are not None."""
    unknown = set(given) - {f.name for f in fields(SyntheticConfig)}
    if unknown:
        raise TypeError(f"unknown synthetic corpus parameter(s) {sorted(unknown)}; see SyntheticConfig")
    # Hydra hands sequences over as ListConfig: store them as tuples, as the dataclass defaults are
    given = {
        k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
        for k, v in given.items()
        if v is not None
    }
    return replace(config or SyntheticConfig(), **given)


def _check_replaceable(root: Path, old: dict[str, Any] | None, cfg: SyntheticConfig, overwrite: bool) -> None:
    """Refuse to write over a folder that is not a synthetic corpus, or over one written with other
    parameters unless ``overwrite``."""
    if not root.exists():
        return
    if old is None and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(
            f"{root}: exists and is not a synthetic corpus (no {STAMP_FILE}); refusing to "
            "write over it, even with overwrite=True: choose another folder"
        )
    if old is not None and not overwrite:
        diff = {
            k: (v, cfg.to_json().get(k))
            for k, v in old.get("config", {}).items()
            if cfg.to_json().get(k) != v
        }
        raise FileExistsError(
            f"{root}: holds a synthetic corpus written with other parameters ({diff or 'another format version'}"
            f" as (old, new)); pass overwrite=True to replace it, or choose another folder"
        )


def write_synthetic_corpus(
    root: str | os.PathLike,
    n_videos: int | None = None,
    segments_per_video: tuple[int, int] | None = None,
    seed: int | None = None,
    fold_fractions: tuple[float, float, float] | None = None,
    overwrite: bool = False,
    config: SyntheticConfig | None = None,
    **overrides: Any,
) -> Path:
    """Write a synthetic MOSEI-layout corpus at ``root`` (see the module docstring) and return ``root``.

    Parameters left None come from ``config`` (default: ``SyntheticConfig()``); ``overrides`` may set any
    other ``SyntheticConfig`` field. Atomic: written into a temporary sibling folder, renamed when complete.
    Idempotent: a complete corpus with the same parameters is left as it is. A folder written with other
    parameters raises ``FileExistsError`` unless ``overwrite=True``; a non-empty folder that is not a
    synthetic corpus (no ``SYNTHETIC.json``) is never deleted.
    """
    given = dict(
        n_videos=n_videos,
        segments_per_video=segments_per_video,
        seed=seed,
        fold_fractions=fold_fractions,
        **overrides,
    )
    cfg = _config(config, given)
    root = Path(root)
    old = read_stamp(root) if root.is_dir() else None
    if _matches(old, cfg):
        return root
    _check_replaceable(root, old, cfg, overwrite)
    root.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp, trash = root.with_name(f".{root.name}.tmp-{tag}"), root.with_name(f".{root.name}.old-{tag}")
    try:
        t0 = time.perf_counter()
        summary = _generate(tmp, cfg)
        stamp = {
            "generator": GENERATOR_NAME,
            "format_version": CORPUS_FORMAT_VERSION,
            "config": cfg.to_json(),
            "summary": summary,
            "generation_seconds": round(time.perf_counter() - t0, 2),
        }
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
        if root.exists():
            os.replace(root, trash)  # an old corpus we may replace, or an empty folder
        try:
            os.rename(tmp, root)
        except OSError:
            if _matches(read_stamp(root), cfg):  # another process finished the same corpus first
                return root
            raise
    finally:
        for path in (tmp, trash):
            shutil.rmtree(path, ignore_errors=True)
    return root


def main(argv: list[str] | None = None) -> None:
    """``python -m mosei_attn.synthetic ROOT [--videos N] [--seed S]``: write a corpus, print a summary."""
    defaults = SyntheticConfig()
    ap = argparse.ArgumentParser(description="Write a synthetic corpus in the CMU-MOSEI on-disk layout.")
    ap.add_argument("root", type=Path, help="folder to create (its parent must be writable)")
    ap.add_argument("--videos", type=int, default=defaults.n_videos, help="number of videos")
    ap.add_argument("--seed", type=int, default=defaults.seed, help="random seed (same seed, same files)")
    ap.add_argument(
        "--segments",
        type=int,
        nargs=2,
        default=defaults.segments_per_video,
        metavar=("LO", "HI"),
        help="segments per video, inclusive range",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace a corpus written with other parameters")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        root = write_synthetic_corpus(
            args.root,
            n_videos=args.videos,
            seed=args.seed,
            segments_per_video=tuple(args.segments),
            overwrite=args.overwrite,
        )
    except (FileExistsError, ValueError) as e:
        ap.exit(2, f"error: {e}\n")
    stamp = read_stamp(root) or {}
    summary = stamp.get("summary", {})
    print(
        f"{root}: synthetic MOSEI-layout corpus ({time.perf_counter() - t0:.1f} s this call, "
        f"{stamp.get('generation_seconds')} s to generate, {summary.get('audio_seconds', 0) / 60:.1f} min of audio)"
    )
    print(f"{'fold':<6} {'videos':>6} {'segs':>5}  " + " ".join(f"{e:>8}" for e in EMOTIONS))
    for fold, by_class in summary.get("classes", {}).items():
        print(
            f"{fold:<6} {summary['videos'][fold]:>6} {summary['segments'][fold]:>5}  "
            + " ".join(f"{by_class[e]:>8}" for e in EMOTIONS)
        )


if __name__ == "__main__":
    main()
