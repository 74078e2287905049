"""Reading and checking a feature cache (layout: :mod:`mosei_attn.data.cache.build`).

A reader states what it expects (settings, corpus fingerprint, emotion names and order, format version);
a cache that differs is refused loudly, never used silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5s

from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures, feature_settings
from mosei_attn.errors import UserFault
from mosei_attn.files import to_json

#: Bump when the layout or the feature code changes: old caches then get a new name and are rebuilt.
#: 2: audio read up to AudioFeatures.seconds_seen; bad segments skipped and counted.
#: 3: Fletcher-32 checksums on every dataset, fixed-length strings, spec and words uncompressed.
#: 4: each segment's audio file (a run's figure 3 reads its segment from there).
#: 5: the speech column (each frame's voice activity).
FEATURE_CACHE_VERSION = 5
#: Attributes stored as plain strings; every other string attribute holds JSON.
PLAIN_ATTRS = ("fingerprint",)
REBUILD_HINT = (
    "delete the file to rebuild it (python -m mosei_attn.prepare), or ask for what it was built with"
)


class CacheMismatchError(UserFault, ValueError):
    """A cache that is unreadable or was built with other settings, inputs or labels than asked for."""


class CacheCorruptError(UserFault, OSError):
    """Bytes of a cache dataset that fail their checksum (or cannot be read): the file must be rebuilt."""


def _corrupt(path: Path, key: str, where: str, e: BaseException) -> CacheCorruptError:
    return CacheCorruptError(
        f"{path}: dataset {key!r} ({where}) fails its checksum or cannot be read ({e}): the feature cache "
        "is damaged; delete it and rebuild it (python -m mosei_attn.prepare)"
    )


def _decode_attr(key: str, value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    value = value.decode("utf-8") if isinstance(value, bytes) else value
    if not isinstance(value, str) or key in PLAIN_ATTRS:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def read_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The cache's attributes, JSON-decoded. Refuses a missing or unreadable file with what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: feature cache not found; build it with python -m mosei_attn.prepare"
        )
    try:
        with h5py.File(path, "r") as f:
            return {k: _decode_attr(k, v) for k, v in f.attrs.items()}
    except OSError as e:
        raise CacheMismatchError(f"{path}: not a readable HDF5 feature cache ({e}); {REBUILD_HINT}") from e


def _first_difference(expected: Any, found: Any, where: str) -> tuple[str, Any, Any] | None:
    """The first (dotted key, expected, found) where two JSON-like values differ, or None."""
    if isinstance(expected, Mapping) and isinstance(found, Mapping):
        for k in sorted(set(expected) | set(found), key=str):
            if k not in found or k not in expected:
                return f"{where}.{k}", expected.get(k, "<absent>"), found.get(k, "<absent>")
            diff = _first_difference(expected[k], found[k], f"{where}.{k}")
            if diff:
                return diff
        return None
    normalised = json.loads(json.dumps(expected, default=to_json))  # tuples -> lists, numpy -> python
    return None if normalised == found else (where, expected, found)


def check_attrs(path: str | os.PathLike, expect: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse (CacheMismatchError) a cache whose attributes differ from ``expect``; return its attributes."""
    attrs = read_attrs(path)
    for key, want in expect.items():
        if key not in attrs:
            raise CacheMismatchError(
                f"{path}: attribute {key!r} is missing (expected {want!r}); {REBUILD_HINT}"
            )
        diff = _first_difference(want, attrs[key], key)
        if diff:
            why = " (the corpus changed since the cache was built)" if key == "fingerprint" else ""
            raise CacheMismatchError(
                f"{path}: attribute {diff[0]!r} is {diff[2]!r} but {diff[1]!r} was expected{why}; "
                f"{REBUILD_HINT}"
            )
    return attrs


def validate_cache(
    path: str | os.PathLike,
    audio: AudioFeatures,
    text: TextFeatures,
    fingerprint: str,
    emotion_names: Iterable[str],
    label_columns: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Refuse a cache not built with these feature settings, corpus fingerprint, emotion names (in this
    order), label columns (default: sentiment then the emotions) and format version; return its
    attributes."""
    emotion_names = list(emotion_names)
    expect = {
        "format_version": FEATURE_CACHE_VERSION,
        "emotion_names": emotion_names,  # before label_columns: the clearer message when emotions differ
        "label_columns": list(label_columns) if label_columns is not None else ["sentiment", *emotion_names],
        "features": feature_settings(audio, text),
        "fingerprint": fingerprint,
    }
    return check_attrs(path, expect)


def open_cache(path: str | os.PathLike, expect: Mapping[str, Any]) -> FeatureCache:
    """A reader for ``path`` after checking each attribute in ``expect`` (see :func:`check_attrs`)."""
    check_attrs(path, expect)
    return FeatureCache(path)


class FeatureCache:
    """Read-only, lazy view of a feature cache for datasets.

    The HDF5 file opens on first access, once per process: h5py handles neither pickle nor survive a
    fork, so a pickled copy (spawned DataLoader worker) drops the handle and a forked one reopens it.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: feature cache not found")
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._columns: dict[str, np.ndarray] = {}
        self._readers: dict[str, _RowReader] = {}
        self._attrs: dict[str, Any] | None = None

    @property
    def h5(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            try:
                self._h5 = h5py.File(self.path, "r")
                self._pid = os.getpid()
            except OSError as e:
                raise _corrupt(self.path, "/", "the file's header", e) from e
        return self._h5

    def _dataset(self, key: str) -> h5py.Dataset:
        """Dataset ``key``; damaged HDF5 metadata (h5py's KeyError or OSError) is a CacheCorruptError."""
        try:
            return self.h5[key]
        except (KeyError, OSError) as e:
            raise _corrupt(self.path, key, "its metadata", e) from e

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_h5": None, "_pid": None, "_readers": {}}

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = self._pid = None
        self._readers = {}

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.spec_len)

    def item(self, i: int) -> dict[str, np.ndarray]:
        """Segment ``i``: spec (F, T) and words (L, D) float32, spec_len, word_len, speech (T,) bool, labels
        (7,) float32."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.path}: segment index {i} out of range for {n} segments")
        batch = self.batch([int(i) % n])
        return {
            **{k: v[0] for k, v in batch.items()},
            "spec": batch["spec"][0].astype(np.float32),
            "words": batch["words"][0].astype(np.float32),
        }

    def batch(self, rows: Iterable[int]) -> dict[str, np.ndarray]:
        """Segments ``rows`` (in that order) at once: spec (B, F, T) and words (B, L, D) float16 as
        stored, spec_len, word_len (B,) int32, speech (B, T) bool, labels (B, 7) float32. Rows are read in
        file order, one chunk each, straight into the output (h5py's list indexing is ~50x slower for
        this)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = len(self)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"{self.path}: segment rows {rows.tolist()} out of range for {n} segments")
        out = {key: self._read_rows(key, rows) for key in ("spec", "words")}
        return {
            **out,
            "spec_len": self.spec_len[rows],
            "word_len": self.word_len[rows],
            "speech": self.speech[rows],
            "labels": self.labels[rows],
        }

    def _reader(self, key: str) -> _RowReader:
        """This process's :class:`_RowReader` of dataset ``key`` (made once per process: h5py handles do not
        survive a fork)."""
        reader = self._readers.get(key)
        if reader is None or reader.pid != os.getpid():
            reader = self._readers[key] = _RowReader(self._dataset(key), os.getpid())
        return reader

    def _read_rows(self, key: str, rows: np.ndarray) -> np.ndarray:
        reader = self._reader(key)
        out = np.empty((len(rows), *reader.shape), dtype=reader.dtype)
        for j in np.argsort(rows, kind="stable"):
            row = int(rows[j])
            try:
                reader.read(row, out[j : j + 1])
            except OSError as e:
                raise _corrupt(self.path, key, f"row {row}", e) from e
            if not reader.checked[row]:
                if not reader.finite(out[j]):
                    raise _corrupt(self.path, key, f"row {row}", ValueError("it holds NaN or infinities"))
                reader.checked[row] = True
        return out

    def column(self, name: str) -> np.ndarray:
        """A whole per-segment dataset (not spec/words), read once; strings come back as ``str`` arrays."""
        if name not in self._columns:
            ds = self._dataset(name)
            try:
                values = ds.asstr()[()].astype(str) if ds.dtype.kind in "OS" else ds[()]
            except OSError as e:
                raise _corrupt(self.path, name, "whole column", e) from e
            self._columns[name] = values
        return self._columns[name]

    labels = property(lambda self: self.column("labels"), doc="(N, 7) float32 raw label columns")
    fold = property(lambda self: self.column("fold"), doc="(N,) fold names")
    segment_id = property(lambda self: self.column("segment_id"), doc="(N,) 'video[index]' ids")
    video_id = property(lambda self: self.column("video_id"), doc="(N,) video ids")
    text = property(lambda self: self.column("text"), doc="(N,) words joined by spaces")
    audio = property(lambda self: self.column("audio"), doc="(N,) the audio file each segment is cut from")
    spec_len = property(lambda self: self.column("spec_len"), doc="(N,) real spectrogram frames")
    word_len = property(lambda self: self.column("word_len"), doc="(N,) real words")
    speech = property(lambda self: self.column("speech"), doc="(N, T) frames the detector hears as speech")

    @property
    def attrs(self) -> dict[str, Any]:
        if self._attrs is None:
            self._attrs = {k: _decode_attr(k, v) for k, v in self.h5.attrs.items()}
        return self._attrs


class _RowReader:
    """Reads single rows of one spec/words dataset into a caller's array: its h5py handle, shape, dtype and
    dataspaces are looked up once (h5py makes a new Dataset object, with its weak references, on every
    ``file[key]``), and :meth:`finite` checks a row with one preallocated buffer.

    Fletcher-32 cannot tell 0x0000 from 0xFFFF words: zero padding turned to 0xFF passes it, as NaN. So each
    row is checked for NaN and infinities the first time this process reads it (``checked``; the file is
    read-only, and Fletcher-32 still checks every read), on the exponent bits of its floats (all ones in
    both), in a row-sized integer buffer made once. numpy's ``isfinite`` on every float16 batch, an
    unvectorised loop that also allocated a boolean array the size of the batch, halved the loader's rate
    (docs/benchmarks.md).
    """

    def __init__(self, ds: h5py.Dataset, pid: int):
        self.ds = ds
        self.pid = pid
        self.shape = ds.shape[1:]
        self.dtype = ds.dtype
        self.file_space = ds.id.get_space()
        self.row_space = h5s.create_simple((1, *self.shape))
        self.zeros = (0,) * len(self.shape)
        info = np.finfo(self.dtype)
        self.bits = np.dtype(f"u{self.dtype.itemsize}")
        self.exponent = self.bits.type(((1 << info.nexp) - 1) << info.nmant)
        self.scratch = np.empty(int(np.prod(self.shape)), dtype=self.bits)
        self.checked = np.zeros(ds.shape[0], dtype=bool)

    def read(self, row: int, into: np.ndarray) -> None:
        """Row ``row`` into ``into`` (a C-contiguous (1, *shape) array of the dataset's dtype)."""
        self.file_space.select_hyperslab((row, *self.zeros), (1, *self.shape))
        self.ds.id.read(self.row_space, self.file_space, into)

    def finite(self, row: np.ndarray) -> bool:
        """Whether no value of ``row`` (one row, C-contiguous) is NaN or infinite."""
        np.bitwise_and(row.reshape(-1).view(self.bits), self.exponent, out=self.scratch)
        return bool(self.scratch.max() != self.exponent)
