"""Computational sequence (.csd) reading and writing, against the layout docs/data.md describes."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from mosei_attn.data.corpora.csd import ComputationalSequence, CsdFormatError, words_to_str, write_csd


def test_write_then_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    data = {
        "-3g5yACwYnA": (rng.random((5, 3), dtype=np.float32), np.cumsum(rng.random((5, 2)), axis=0)),
        "81406": (rng.random((2, 3), dtype=np.float32), np.array([[0.0, 1.5], [1.5, 2.25]])),
    }
    meta = {
        "dimension names": ["a", "b", "c"],
        "computational sequence version": 1.1,
        "creator": "not { json at all",
    }
    path = write_csd(tmp_path / "x.csd", "My Root", data, meta)
    with ComputationalSequence(path, dim=3) as seq:
        assert seq.root_name == "My Root"
        assert sorted(seq) == sorted(data) and len(seq) == 2
        for key, (features, intervals) in data.items():
            got_f, got_i = seq[key]
            np.testing.assert_allclose(got_f, features)
            np.testing.assert_allclose(got_i, intervals)
        assert seq.metadata["dimension names"] == ["a", "b", "c"]
        assert seq.metadata["computational sequence version"] == pytest.approx(1.1)
        assert seq.metadata["creator"] == "not { json at all"
        assert seq.metadata["root name"] == "My Root"
    assert not list(tmp_path.glob("*.tmp-*"))  # atomic write leaves no temporary file


def _write_plain(path, entries, root="words", metadata=None, with_data=True):
    """A csd written with plain h5py calls, exactly as docs/data.md lays it out."""
    str_dt = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as f:
        grp = f.create_group(root)
        if with_data:
            data = grp.create_group("data")
            for entry, parts in entries.items():
                e = data.create_group(entry)
                for name, arr in parts.items():
                    kw = {} if arr.dtype.kind == "S" else {"compression": "gzip", "compression_opts": 9}
                    e.create_dataset(name, data=arr, **kw)
        meta = grp.create_group("metadata")
        for key, raw in (metadata or {}).items():
            meta.create_dataset(key, (1,), dtype=str_dt, data=[raw])
    return path


def test_reads_file_written_with_plain_h5py(tmp_path):
    words = np.array([[b"sp"], [b"hello"], [b"world"]])
    iv = np.array([[0.0, 0.3], [0.3, 0.8], [0.8, 1.2]])
    path = _write_plain(
        tmp_path / "w.csd",
        {"81406": {"features": words, "intervals": iv}},
        metadata={
            "root name": json.dumps("words"),
            "dimension names": json.dumps(["word"]),
            "dataset name": "CMU-MOSEI raw",
        },
    )
    with ComputationalSequence(path, dim=1) as seq:
        assert list(seq) == ["81406"] and all(isinstance(k, str) for k in seq)
        assert "81406" in seq and 81406 in seq  # a numeric lookup finds the string id
        features, intervals = seq["81406"]
        assert words_to_str(features) == ["sp", "hello", "world"]
        np.testing.assert_allclose(intervals, iv)
        assert seq.metadata == {
            "root name": "words",
            "dimension names": ["word"],
            "dataset name": "CMU-MOSEI raw",
        }


def _entry(rows=3, dim=2, iv_rows=None):
    iv_rows = rows if iv_rows is None else iv_rows
    return {"features": np.zeros((rows, dim), np.float32), "intervals": np.tile([0.0, 1.0], (iv_rows, 1))}


def test_no_top_level_group(tmp_path):
    path = tmp_path / "empty.csd"
    h5py.File(path, "w").close()
    with pytest.raises(CsdFormatError, match="no top-level group") as e:
        ComputationalSequence(path)
    assert str(path) in str(e.value)


def test_missing_data_group(tmp_path):
    path = _write_plain(tmp_path / "nodata.csd", {}, root="All Labels", with_data=False)
    with pytest.raises(CsdFormatError, match="'data'") as e:
        ComputationalSequence(path)
    assert str(path) in str(e.value) and "All Labels" in str(e.value)


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        ({"features": np.zeros((3, 2), np.float32)}, "missing 'intervals'"),
        (_entry(rows=3, iv_rows=2), "3 rows but intervals have 2"),
        (_entry(dim=5), "dimension 5, expected 2"),
        ({"features": np.zeros((3, 2), np.float32), "intervals": np.zeros(3)}, r"must be \(N, 2\)"),
    ],
    ids=["missing-intervals", "row-mismatch", "wrong-dim", "1d-intervals"],
)
def test_malformed_entry_names_file_and_entry(tmp_path, entry, fault):
    path = _write_plain(tmp_path / "bad.csd", {"vid_1": entry, "ok": _entry()})
    with ComputationalSequence(path, dim=2) as seq:
        seq["ok"]  # a good entry in the same file still reads: the faults are per entry
        with pytest.raises(CsdFormatError, match=fault) as e:
            seq["vid_1"]
    assert str(path) in str(e.value) and "'vid_1'" in str(e.value)
    assert e.value.entry == "vid_1"


def test_missing_file_and_missing_entry(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csd"):
        ComputationalSequence(tmp_path / "nope.csd")
    path = write_csd(tmp_path / "x.csd", "r", {"a": (np.zeros((1, 1)), np.zeros((1, 2)))})
    with ComputationalSequence(path) as seq, pytest.raises(KeyError, match="'b'"):
        seq["b"]
