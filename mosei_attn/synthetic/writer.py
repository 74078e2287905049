"""A small synthetic corpus in the REAL CMU-MOSEI on-disk layout, read by the same reader.

Real MOSEI cannot be downloaded here, so the default run, the tests and CI use this corpus instead. Each
segment's dominant emotion shows in its WORDS (emotion words whose vectors cluster around an emotion
centroid, among many neutral words), in its PROSODY (per emotion: pitch level and range, loudness, tempo,
jitter) and in the two TOGETHER: the emotion word is spoken with the emotion's prosody (stressed) while the
rest of the sentence stays near neutral. Some segments carry one cue only, or an emotion word of another
(distractor) emotion spoken flatly, so neither modality alone is perfect but both together are informative;
in some, two words are stressed alike with two emotions' prosodies and only the words say which one is the
emotion word (the ``two_stressed`` mode, docs/data.md).

Written under ``root`` (the names the reader in :mod:`mosei_attn.data.corpora.mosei_layout` names)::

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

from mosei_attn.data.corpora.labels import EMOTIONS
from mosei_attn.errors import DiskFullError, UserFault, no_space_named
from mosei_attn.locks import LockFileError, StaleLockError, exclusive_lock, remove_stale_temps
from mosei_attn.process import process_setup
from mosei_attn.synthetic.config import SyntheticConfig
from mosei_attn.synthetic.corpus_files import GENERATOR_NAME, generate

STAMP_FILE = "SYNTHETIC.json"
#: Bump when the generator's output changes for the same parameters: a stamped folder then mismatches.
CORPUS_FORMAT_VERSION = 4  # 2: SYNTHETIC_TRUTH.json; 3: two_stressed mode, vocabulary_seed; 4: rival spans


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


class CorpusParametersError(UserFault, FileExistsError):
    """A folder holds a synthetic corpus written with other parameters, and may not be replaced."""


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
        new = cfg.to_json()
        diff = {k: (v, new.get(k)) for k, v in old.get("config", {}).items() if new.get(k) != v}
        same = " ".join(f"data.write_corpus.{k}={_override(v)}" for k, (v, _) in diff.items())
        differences = ", ".join(f"{k}: {a} there, {b} asked" for k, (a, b) in diff.items())
        raise CorpusParametersError(
            f"{root}: holds a synthetic corpus written with other parameters "
            f"({differences or 'another format version'}),"
            f" which this command does not replace: ask for the corpus that is there"
            f"{f' ({same})' if same else ''}, give another data folder (paths.data_dir=...), or replace it "
            "where that is meant (overwrite=True: train's default; --overwrite for "
            "python -m mosei_attn.synthetic)"
        )


def _override(value: Any) -> str:
    """A stamp's value as a Hydra override's value: lists in brackets, without spaces."""
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list | dict) else str(value)


def write_synthetic_corpus(
    root: str | os.PathLike,
    n_videos: int | None = None,
    segments_per_video: tuple[int, int] | None = None,
    seed: int | None = None,
    fold_fractions: tuple[float, float, float] | None = None,
    overwrite: bool = False,
    config: SyntheticConfig | None = None,
    workers: int | None = None,
    **overrides: Any,
) -> Path:
    """Write a synthetic MOSEI-layout corpus at ``root`` (see the module docstring) and return ``root``.

    Parameters left None come from ``config`` (default: ``SyntheticConfig()``); ``overrides`` may set any
    other ``SyntheticConfig`` field. Atomic: written into a temporary sibling folder, renamed when complete.
    Idempotent: a complete corpus with the same parameters is left as it is. Safe with several processes:
    one writes (under the lock ``.<root name>.lock`` beside ``root``), the others wait and adopt its corpus,
    which is never replaced while they read it. A folder written with other
    parameters raises ``FileExistsError`` unless ``overwrite=True``; a non-empty folder that is not a
    synthetic corpus (no ``SYNTHETIC.json``) is never deleted. ``workers`` processes render the videos
    (None: every core); the files do not depend on it.
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
    if root.is_dir() and _matches(read_stamp(root), cfg):
        return root
    # one writer at a time; a process that waited adopts the corpus the first one wrote
    with exclusive_lock(root.with_name(f".{root.name}"), what=f"the synthetic corpus {root}"):
        for kind in ("tmp", "old"):  # what a killed writer left (see _write)
            remove_stale_temps(root, f".{{name}}.{kind}-*")
        old = read_stamp(root) if root.is_dir() else None
        if _matches(old, cfg):
            return root
        _check_replaceable(root, old, cfg, overwrite)
        _write(root, cfg, workers)
    return root


def _write(root: Path, cfg: SyntheticConfig, workers: int | None) -> None:
    """Generate the corpus into a temporary sibling of ``root`` and rename it to ``root`` when complete (an
    older corpus at ``root`` is moved aside first and deleted). Called with the corpus lock held."""
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp, trash = root.with_name(f".{root.name}.tmp-{tag}"), root.with_name(f".{root.name}.old-{tag}")
    try:
        t0 = time.perf_counter()
        with no_space_named(root.parent, f"the synthetic corpus {root.name}"):
            summary = generate(tmp, cfg, workers)
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
        os.rename(tmp, root)
    finally:
        for path in (tmp, trash):
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m mosei_attn.synthetic ROOT [--videos N] [--seed S]``: write a corpus, print a summary."""
    process_setup()  # malloc and warning filters for this process (not at import)
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
    except (FileExistsError, ValueError, DiskFullError, LockFileError, StaleLockError) as e:
        ap.exit(2, f"error: {e}\n")
    stamp = read_stamp(root) or {}
    summary = stamp.get("summary", {})
    print(
        f"{root}: synthetic MOSEI-layout corpus ({time.perf_counter() - t0:.1f} s this call, "
        f"{stamp.get('generation_seconds')} s to generate, {summary.get('audio_seconds', 0) / 60:.1f} min of "
        "audio)"
    )
    print(f"{'fold':<6} {'videos':>6} {'segs':>5}  " + " ".join(f"{e:>8}" for e in EMOTIONS))
    for fold, by_class in summary.get("classes", {}).items():
        print(
            f"{fold:<6} {summary['videos'][fold]:>6} {summary['segments'][fold]:>5}  "
            + " ".join(f"{by_class[e]:>8}" for e in EMOTIONS)
        )


if __name__ == "__main__":
    main()
