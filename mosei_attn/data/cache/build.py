"""One HDF5 feature cache per (corpus, feature settings): built once, reused, never silently stale.

File ``<cache_dir>/<name>-<key>.h5``, ``key`` = 12 hex digits of sha256(settings + fingerprint + format
version). Datasets, one row per segment in corpus order::

    spec (N, F, T) float16, spec_len (N,) int32      words (N, L, D) float16, word_len (N,) int32
    speech (N, T) bool: the frames the voice activity detector hears as speech (False past spec_len)
    labels (N, 7) float32 raw columns                fold, segment_id, video_id, text (N,) utf-8, fixed length
    start, end (N,) float64 seconds

Every dataset is chunked (spec and words one segment per chunk) and carries HDF5's Fletcher-32 checksum
filter: a damaged chunk is an error on reading, never wrong numbers (strings are fixed-length for that).

Attributes (JSON strings unless scalar): emotion_names, label_columns, features, fingerprint, counts,
format_version, skipped + skipped_examples + audio_notes (:mod:`mosei_attn.data.cache.tally`), plus any
``extra_attrs``. The file is written under
``*.h5.tmp-<pid>`` and renamed when complete, so a finished-looking file is always a complete one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np
from h5py import h5s
from rich.progress import Progress

from mosei_attn.data.cache import tally
from mosei_attn.data.cache.columns import checked_labels, write_attrs, write_segment_columns
from mosei_attn.data.cache.interrupt import ctrl_c_as_flag, ignore_sigint, until_ctrl_c
from mosei_attn.data.cache.reader import FEATURE_CACHE_VERSION, read_attrs, validate_cache
from mosei_attn.data.corpora.labels import EMOTIONS, LABEL_COLUMNS
from mosei_attn.data.corpora.segment import Segment
from mosei_attn.data.features.audio import AudioReadError, read_span
from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures, feature_settings
from mosei_attn.data.skip_report import SkipReport
from mosei_attn.errors import check_free_space, no_space_named
from mosei_attn.files import atomic_path
from mosei_attn.locks import exclusive_lock, remove_stale_temps
from mosei_attn.pool_workers import end_with_parent

log = logging.getLogger(__name__)

#: Hex digits of the settings hash in the file name.
KEY_LENGTH = 12


class FeatureExtractionError(RuntimeError):
    """Features of one segment could not be computed; the message names the segment and its WAV file."""


def cache_path(
    cache_dir: str | os.PathLike, name: str, audio: AudioFeatures, text: TextFeatures, fingerprint: str
) -> Path:
    """Where the cache for these settings and this corpus fingerprint lives."""
    if not name or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"cache name {name!r} must be a non-empty file name without path separators")
    blob = json.dumps(
        {
            "features": feature_settings(audio, text),
            "fingerprint": fingerprint,
            "format_version": FEATURE_CACHE_VERSION,
        },
        sort_keys=True,
    )
    key = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:KEY_LENGTH]
    return Path(cache_dir) / f"{name}-{key}.h5"


def _extract_one(seg: Segment, audio: AudioFeatures, text: TextFeatures, strict: bool = False) -> tuple:
    """Features of one segment: ("ok", spec float16 (F, T), spec_len, speech bool (T,), words float16 (L, D),
    word_len, notes), or ("skip", reason, message) when its audio cannot be read (``strict``:
    FeatureExtractionError)."""
    try:
        span = read_span(
            seg.audio_path,
            seg.start,
            seg.end,
            min_sample_rate=audio.sample_rate,
            max_seconds=audio.seconds_seen,
        )
        spec, spec_len, speech = audio.extract(span.samples, span.sample_rate, source=str(seg.audio_path))
        words, word_len = text.compute(seg.word_vectors, source=f"segment {seg.segment_id}")
    except Exception as e:
        where = f"segment {seg.segment_id} (WAV file {seg.audio_path}, [{seg.start:.3f}, {seg.end:.3f}) s)"
        if strict or not isinstance(e, (AudioReadError, FileNotFoundError)):
            raise FeatureExtractionError(f"{where}: {e}") from e
        reason = e.reason if isinstance(e, AudioReadError) else "no audio file"
        return "skip", reason, f"{where}: {e}"
    notes = []
    if span.missing_seconds > tally.MISSING_TOLERANCE_S:
        notes.append(tally.NOTE_CUT_SHORT)
    if span.channels_cancel:
        notes.append(tally.NOTE_CANCEL)
    if not spec.any():
        notes.append(tally.NOTE_SILENT)
    return "ok", spec.astype(np.float16), spec_len, speech, words.astype(np.float16), word_len, notes


@contextlib.contextmanager
def _extraction(
    segments: list[Segment], worker, workers: int, start_method: str | None
) -> Iterator[Iterator]:
    """Results in segment order: in-process for one worker, else an ordered ``imap`` over a Pool.

    Entered before the output file is opened, so forked workers inherit no HDF5 handle. ``fork`` is the
    default where it exists: workers run only numpy/soundfile/soxr, and a spawned worker would re-import
    the package (and Lightning with it) first.
    """
    if workers <= 1:
        yield map(worker, segments)
        return
    if start_method is None:
        start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    chunksize = max(1, min(64, len(segments) // (workers * 8)))
    # a forkserver's workers are its children, not ours
    parent = os.getpid() if start_method in ("fork", "spawn") else None
    init = functools.partial(_init_worker, parent)
    with multiprocessing.get_context(start_method).Pool(workers, initializer=init) as pool:
        with ctrl_c_as_flag() as hit:
            yield until_ctrl_c(pool.imap(worker, segments, chunksize=chunksize), hit)


def _init_worker(parent_pid: int | None) -> None:
    """A pool worker leaves Ctrl-C to the parent and is killed when the parent dies (SIGKILL, OOM)."""
    ignore_sigint()
    end_with_parent(parent_pid)


def _warn_old_formats(path: Path, name: str) -> None:
    """Say so when caches of this name from an older format version lie beside ``path`` (not reused)."""
    for other in sorted(path.parent.glob(f"{name}-*.h5")):
        try:
            version = read_attrs(other).get("format_version")
        except (OSError, ValueError):
            continue
        if isinstance(version, int) and version < FEATURE_CACHE_VERSION:
            log.warning(
                "%s: feature cache of format version %d, this code reads version %d: building %s instead "
                "(the old file is not used; delete it to free the space)",
                other,
                version,
                FEATURE_CACHE_VERSION,
                path.name,
            )


def _row_writer(ds: h5py.Dataset):
    """``write(i, row)``: row ``i`` of ``ds`` (one chunk) through HDF5 directly (h5py's ``ds[i] = row``
    spends more time building its selection than HDF5 spends writing)."""
    shape = ds.shape[1:]
    file_space = ds.id.get_space()
    row_space = h5s.create_simple((1, *shape))
    zeros = (0,) * len(shape)

    def write(i: int, row: np.ndarray) -> None:
        file_space.select_hyperslab((i, *zeros), (1, *shape))
        ds.id.write(row_space, file_space, np.ascontiguousarray(row, dtype=ds.dtype)[None])

    return write


def _create_datasets(f: h5py.File, n: int, audio: AudioFeatures, text: TextFeatures, compression: str | None):
    """The feature datasets and their lengths, checksummed (Fletcher-32), filled in as segments are extracted.
    One segment per chunk: the loader reads random rows. Resizable: segments whose audio cannot be read are
    left out, and the datasets shrink to the kept rows."""
    fb = audio.freq_bins
    t = audio.max_frames
    lw = text.max_words
    d = text.dim
    kw = {"dtype": "f2", "compression": compression, "fletcher32": True}
    f.create_dataset("spec", (n, fb, t), maxshape=(None, fb, t), chunks=(1, fb, t), **kw)
    f.create_dataset("words", (n, lw, d), maxshape=(None, lw, d), chunks=(1, lw, d), **kw)
    for key in ("spec_len", "word_len"):
        chunks = (max(1, min(n, 4096)),)
        f.create_dataset(key, (n,), dtype="i4", maxshape=(None,), chunks=chunks, fletcher32=True)
    # read whole (FeatureCache.column), so chunks of many rows
    rows = max(1, min(n, 1024))
    f.create_dataset("speech", (n, t), dtype=bool, maxshape=(None, t), chunks=(rows, t), fletcher32=True)


def _write_features(
    f: h5py.File,
    path: Path,
    segments: list[Segment],
    results: Iterator,
    reports: tuple[SkipReport, SkipReport],
    bar,
) -> list[int]:
    """Write each extracted segment's features to the next row; return the indices of the kept segments
    (at least one, else ValueError: the cache ``path`` would be empty). ``reports``: skipped, kept with a
    note."""
    skipped, remarks = reports
    kept: list[int] = []
    lengths: dict[str, list[int]] = {"spec_len": [], "word_len": []}
    speech: list[np.ndarray] = []
    write_spec, write_words = _row_writer(f["spec"]), _row_writer(f["words"])
    task = bar.add_task(f"features -> {path.name}", total=len(segments))
    for i, result in enumerate(results):
        if result[0] == "skip":
            skipped.add(result[1], [result[2]])
        else:
            _, spec, spec_len, speech_row, words, word_len, notes = result
            write_spec(len(kept), spec)
            speech.append(speech_row)
            write_words(len(kept), words)
            lengths["spec_len"].append(spec_len)
            lengths["word_len"].append(word_len)
            kept.append(i)
            for kind in notes:
                remarks.add(kind, [segments[i].segment_id])
        bar.advance(task)
    if not kept:
        raise ValueError(
            f"{path}: the audio of none of the {len(segments)} segment(s) could be read: "
            f"{dict(skipped)}; e.g. {next(iter(skipped.example_dict.values()), [])}"
        )
    for key in ("spec", "words", "spec_len", "word_len", "speech"):
        f[key].resize(len(kept), axis=0)
    for key, values in lengths.items():
        f[key][...] = np.asarray(values, dtype=np.int32)
    f["speech"][...] = np.stack(speech)
    return kept


def build_cache(
    segments_source: list[Segment],
    audio: AudioFeatures,
    text: TextFeatures,
    cache_dir: str | os.PathLike,
    name: str,
    fingerprint: str,
    extra_attrs: dict | None = None,
    skipped: SkipReport | None = None,
    workers: int | None = None,
    progress: bool = True,
    compression: str | None = None,
    start_method: str | None = None,
    emotion_names: Sequence[str] = EMOTIONS,
    label_columns: Sequence[str] = LABEL_COLUMNS,
    strict: bool = False,
) -> Path:
    """Build (or reuse) the feature cache of ``segments_source`` and return its path.

    An existing file with the same name is checked against these settings, fingerprint and emotion names and
    returned without recomputing anything. Safe with several processes: one builds (holding ``<cache>.lock``),
    the others wait and adopt its file, never replaced once complete. ``workers`` processes extract features
    (default: every core; 1 runs in-process; ``start_method``: the multiprocessing one, default fork where it
    exists); rows are written in segment order. A segment whose audio cannot be read is left out and counted
    by reason in the ``skipped`` attribute, which continues the reader's report ``skipped``; ``strict`` raises
    FeatureExtractionError instead. ``extra_attrs`` are stored as JSON attributes. ``compression``: the h5py
    filter of spec and words (default none: lzf halves the file and the loader's speed). ``emotion_names`` and
    ``label_columns`` are the corpus's (MOSEI's by default): every ``labels`` row follows ``label_columns``.
    """
    emotion_names, label_columns = list(emotion_names), list(label_columns)
    segments = list(segments_source)
    path = cache_path(cache_dir, name, audio, text, fingerprint)
    if path.exists():
        validate_cache(path, audio, text, fingerprint, emotion_names, label_columns)
        return path
    if not segments:
        raise ValueError(f"no segments to cache for {path}")
    extra = dict(extra_attrs or {})
    labels = checked_labels(segments, label_columns, extra)  # (N, 1 + E)
    workers = max(1, min(workers or os.cpu_count() or 1, len(segments)))
    reports = tally.extraction_reports(path.name, skipped)

    # one builder at a time; a process that waited adopts the cache the first one built
    with exclusive_lock(path, what=f"the feature cache {path}"):
        if path.exists():
            validate_cache(path, audio, text, fingerprint, emotion_names, label_columns)
            return path
        _warn_old_formats(path, name)
        remove_stale_temps(path)
        worker = functools.partial(_extract_one, audio=audio, text=text, strict=strict)
        needed = len(segments) * (
            (audio.freq_bins * audio.max_frames + text.max_words * text.dim) * 2 + audio.max_frames
        )  # float16, and the speech mask's bytes
        what, elsewhere = (
            f"the feature cache {path.name}",
            "set data.cache_dir (or MOSEI_ATTN_DATA) to another disk",
        )
        check_free_space(path.parent, needed, what, elsewhere)
        with no_space_named(path.parent, what, needed), atomic_path(path) as tmp:
            with _extraction(segments, worker, workers, start_method) as results, h5py.File(tmp, "w") as f:
                _create_datasets(f, len(segments), audio, text, compression)
                with Progress(disable=not progress, transient=False) as bar:
                    kept = _write_features(f, path, segments, results, reports, bar)
                write_segment_columns(f, [segments[i] for i in kept], labels[kept])
                attrs = {
                    "emotion_names": emotion_names,
                    "label_columns": label_columns,
                    "features": feature_settings(audio, text),
                    "counts": {**Counter(segments[i].fold for i in kept), "total": len(kept)},
                    **tally.extraction_attrs(*reports),
                    **extra,
                }
                write_attrs(f, attrs, fingerprint)
    for report in reports:
        report.log(log)
    return path
