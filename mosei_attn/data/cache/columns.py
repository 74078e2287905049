"""Writing a feature cache's per-segment columns (ids, fold, text, labels, times) and its attributes."""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

from mosei_attn.data.cache.reader import FEATURE_CACHE_VERSION
from mosei_attn.data.corpora.segment import Segment
from mosei_attn.files import to_json

#: Attributes build_cache writes itself; extra_attrs may not override them.
RESERVED_ATTRS = (
    "emotion_names",
    "label_columns",
    "features",
    "fingerprint",
    "counts",
    "format_version",
    "audio_notes",
    "skipped",
    "skipped_examples",  # the build's own skip report (tally.extraction_attrs)
)


def write_segment_columns(f: h5py.File, segments: list[Segment], labels: np.ndarray) -> None:
    """The per-segment columns besides the features: ids, fold, text, the audio file, the raw labels
    (N, 1 + E), times in the audio file (s). Checksummed like the features; strings are fixed-length UTF-8
    (variable-length data takes no filter)."""
    strings = {
        "fold": [s.fold for s in segments],
        "segment_id": [s.segment_id for s in segments],
        "video_id": [s.video_id for s in segments],
        "text": [" ".join(s.words) for s in segments],
        "audio": [str(s.audio_path) for s in segments],
    }
    for key, values in strings.items():
        encoded = [v.encode("utf-8") for v in values]
        dtype = h5py.string_dtype("utf-8", length=max(1, *(len(v) for v in encoded)))
        f.create_dataset(key, data=np.array(encoded, dtype=dtype), fletcher32=True)
    f.create_dataset("labels", data=labels, fletcher32=True)
    f.create_dataset("start", data=np.array([s.start for s in segments], dtype=np.float64), fletcher32=True)
    f.create_dataset("end", data=np.array([s.end for s in segments], dtype=np.float64), fletcher32=True)


def write_attrs(f: h5py.File, attrs: dict[str, Any], fingerprint: str) -> None:
    """``attrs`` JSON-encoded, then the fingerprint and the format version as plain attributes."""
    for key, value in attrs.items():
        f.attrs[key] = json.dumps(value, default=to_json)
    f.attrs["fingerprint"] = fingerprint
    f.attrs["format_version"] = FEATURE_CACHE_VERSION


def checked_labels(segments: list[Segment], label_columns: list[str], extra: dict[str, Any]) -> np.ndarray:
    """The segments' label rows (N, 1 + E) float32, after checking each has ``label_columns`` and that
    ``extra`` attributes do not override the cache's own."""
    clash = sorted(set(extra) & set(RESERVED_ATTRS))
    if clash:
        raise ValueError(f"extra_attrs may not override the cache's own attributes {clash}")
    bad = [s.segment_id for s in segments if np.shape(s.labels) != (len(label_columns),)]
    if bad:
        raise ValueError(f"segments {bad[:5]} do not have {len(label_columns)} label columns {label_columns}")
    return np.stack([s.labels for s in segments]).astype(np.float32)
