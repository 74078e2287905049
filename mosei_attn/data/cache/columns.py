"""Writing a feature cache's per-segment columns (ids, fold, text, labels, times) and its attributes."""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

from mosei_attn.data.cache.reader import FEATURE_CACHE_VERSION
from mosei_attn.data.corpora.segment import Segment
from mosei_attn.files import to_json


def write_segment_columns(f: h5py.File, segments: list[Segment], labels: np.ndarray) -> None:
    """The per-segment columns besides the features: ids, fold, text, the raw labels (N, 1 + E), times (s).
    Checksummed like the features; strings are fixed-length UTF-8 (variable-length data takes no filter)."""
    strings = {
        "fold": [s.fold for s in segments],
        "segment_id": [s.segment_id for s in segments],
        "video_id": [s.video_id for s in segments],
        "text": [" ".join(s.words) for s in segments],
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
