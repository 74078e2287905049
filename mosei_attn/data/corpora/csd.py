"""CMU-MultimodalSDK computational sequences (``.csd``): HDF5 files, read lazily, one entry at a time.

Layout (docs/data.md, "Computational sequences")::

    /<root name>/data/<entry id>/features   (N, D)
    /<root name>/data/<entry id>/intervals  (N, 2) [start, end] seconds
    /<root name>/metadata/<key>             (1,) variable-length string holding JSON, or Python's repr

mmsdk takes the FIRST top-level key as the root; so do we. The SDK has written metadata values two ways over
its history: ``json.dumps(value)``, and ``str(value)`` (the released csds: Python's repr, single quotes). Both
are read back as the value they encode.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mosei_attn.errors import MissingInputError, UserFault
from mosei_attn.files import atomic_path

#: Metadata keys every mmsdk computational sequence carries.
METADATA_KEYS: tuple[str, ...] = (
    "root name",
    "computational sequence description",
    "dimension names",
    "computational sequence version",
    "alignment compatible",
    "dataset name",
    "dataset version",
    "creator",
    "contact",
    "featureset bib citation",
    "dataset bib citation",
)


class CsdFormatError(UserFault, ValueError):
    """A computational sequence file that does not follow the mmsdk layout; ``damaged``: its bytes cannot be
    decoded (HDF5 read errors), as opposed to a readable entry of the wrong shape."""

    def __init__(self, path: str | os.PathLike, fault: str, entry: str | None = None, damaged: bool = False):
        where = f"{path}" + (f", entry {entry!r}" if entry is not None else "")
        todo = ": replace it with a complete copy (a failed download is often a web page)"
        todo = "" if entry is not None else todo
        super().__init__(f"{where}: {fault}{todo}")
        self.path = str(path)
        self.entry = entry
        self.fault = fault
        self.damaged = damaged


#: Longest metadata string parsed as a Python literal (a label file's values are a few hundred characters).
MAX_LITERAL_CHARS = 100_000


def _decode(value: Any) -> Any:
    """A metadata value as the SDK wrote it: JSON, else a Python literal (``str(value)``), else the raw
    string."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
        if len(value) <= MAX_LITERAL_CHARS:  # str() of a list, dict, True, None, ... is a Python literal
            try:  # literal_eval evaluates literals only: no names, calls or attribute access
                return ast.literal_eval(value)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass
        return value  # a plain text value (str("some text") is the text itself)
    return value.item() if isinstance(value, np.generic) else value


class ComputationalSequence(Mapping[str, tuple[np.ndarray, np.ndarray]]):
    """Read-only, lazy view of one ``.csd`` file: ``seq[entry_id] -> (features, intervals)``.

    Entry ids are always strings (``"81406"`` stays a string). Use as a context manager, or call
    :meth:`close`. ``dim`` checks every entry's feature width when given.
    """

    def __init__(self, path: str | os.PathLike, dim: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingInputError(f"{self.path}: computational sequence file not found")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as e:
            raise CsdFormatError(self.path, f"not a readable HDF5 file ({e})") from e
        roots = list(self._h5.keys())
        if not roots:
            self.close()
            raise CsdFormatError(self.path, "no top-level group (expected /<root name>/data)")
        self.root_name = roots[0]
        root = self._h5[self.root_name]
        if not isinstance(root, h5py.Group) or "data" not in root:
            self.close()
            raise CsdFormatError(self.path, f"root group {self.root_name!r} has no 'data' group")
        self._data = root["data"]
        self._meta = root["metadata"] if "metadata" in root else None
        self.dim = dim
        try:
            self._keys = [str(k) for k in self._data.keys()]
        except (OSError, RuntimeError, KeyError, ValueError) as e:
            self.close()
            raise CsdFormatError(self.path, f"unreadable list of entries, the file is damaged ({e})") from e

    # Mapping protocol -------------------------------------------------------------------------
    def __getitem__(self, entry: str) -> tuple[np.ndarray, np.ndarray]:
        entry = str(entry)
        if entry not in self._data:
            raise KeyError(f"{self.path}: no entry {entry!r}")
        try:
            grp = self._data[entry]
            for part in ("features", "intervals"):
                if part not in grp:
                    raise CsdFormatError(self.path, f"missing '{part}' dataset", entry)
            features, intervals = grp["features"][()], grp["intervals"][()]
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
            if isinstance(e, CsdFormatError):
                raise
            # garbage inside the file (not a truncation) surfaces here, deep in HDF5's decoding
            raise CsdFormatError(
                self.path, f"unreadable entry, the file is damaged ({e})", entry, True
            ) from e
        if intervals.ndim != 2 or intervals.shape[1] != 2:
            raise CsdFormatError(self.path, f"intervals must be (N, 2), got {intervals.shape}", entry)
        if features.ndim == 1:
            features = features[:, None]
        if features.shape[0] != intervals.shape[0]:
            raise CsdFormatError(
                self.path,
                f"features have {features.shape[0]} rows but intervals have {intervals.shape[0]}",
                entry,
            )
        if self.dim is not None and features.shape[1] != self.dim:
            raise CsdFormatError(
                self.path, f"features have dimension {features.shape[1]}, expected {self.dim}", entry
            )
        return features, intervals.astype(np.float64, copy=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, entry: object) -> bool:
        return str(entry) in self._data

    # Metadata ---------------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """Metadata values, JSON-decoded (raw strings where a value is not valid JSON)."""
        if self._meta is None:
            return {}
        try:
            return {str(k): _decode(self._meta[k][()]) for k in self._meta.keys()}
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
            raise CsdFormatError(self.path, f"unreadable metadata, the file is damaged ({e})") from e

    def close(self) -> None:
        if getattr(self, "_h5", None) is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> ComputationalSequence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def words_to_str(features: np.ndarray) -> list[str]:
    """Rows of a words sequence ((W, 1) byte strings) as Python strings."""
    out = []
    for row in np.asarray(features).reshape(len(features), -1)[:, 0]:
        out.append(row.decode("utf-8", errors="replace") if isinstance(row, bytes) else str(row))
    return out


def write_csd(
    path: str | os.PathLike,
    root_name: str,
    data: Mapping[str, tuple[np.ndarray, np.ndarray]],
    metadata: Mapping[str, Any] | None = None,
    compression: str | None = "gzip",
) -> Path:
    """Write a computational sequence as mmsdk does; atomic (temporary name, then rename).

    ``data`` maps entry id -> (features (N, D), intervals (N, 2)). Word sequences pass features as
    a (W, 1) array of byte strings. Every metadata value is stored JSON-encoded in a (1,) string.
    """
    path = Path(path)
    meta = {k: "" for k in METADATA_KEYS}
    meta["root name"] = root_name
    meta.update(metadata or {})
    str_dt = h5py.string_dtype("utf-8")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        root = f.create_group(root_name)
        grp = root.create_group("data")
        for entry, (features, intervals) in data.items():
            features = np.asarray(features)
            intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
            if features.shape[0] != intervals.shape[0]:
                raise ValueError(f"{path}: entry {entry!r}: features and intervals differ in rows")
            e = grp.create_group(str(entry))
            kw = {"compression": compression} if compression and features.dtype.kind != "S" else {}
            e.create_dataset("features", data=features, **kw)
            e.create_dataset("intervals", data=intervals, **kw)
        m = root.create_group("metadata")
        for k, v in meta.items():
            m.create_dataset(k, (1,), dtype=str_dt, data=[json.dumps(v)])
    return path
