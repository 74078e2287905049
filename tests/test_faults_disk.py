"""Fault injection, a full disk: writing the synthetic corpus, building the feature cache and writing a
checkpoint each end in one message naming the folder and the space needed and free (a write that raises
ENOSPC, or a free space too small for the cache's size); a failed checkpoint write leaves the previous one."""

from __future__ import annotations

import errno
import shutil
from collections import namedtuple

import pytest
import soundfile as sf
import torch

from mosei_attn.data.cache import build as cache
from mosei_attn.errors import DiskFullError
from mosei_attn.synthetic import write_synthetic_corpus
from mosei_attn.training.checkpoint_io import AtomicCheckpointIO
from tests.test_cache import build, leftovers, make_segments

Usage = namedtuple("Usage", "total used free")


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_corpus_on_a_full_disk_names_the_folder_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "write", enospc)
    root = tmp_path / "data" / "synthetic"
    with pytest.raises(DiskFullError, match=rf"{tmp_path / 'data'}: no space left.*[\d.]+ [kMG]B free"):
        write_synthetic_corpus(root, n_videos=4, seed=0, workers=1)
    assert list((tmp_path / "data").iterdir()) == []  # no temporary corpus folder left


def test_corpus_libsndfile_system_error_on_a_full_disk_is_named(tmp_path, monkeypatch):
    """libsndfile reports a full disk as "System error." (no errno): the free space tells."""

    def system_error(*args, **kwargs):
        raise sf.LibsndfileError(2, "Error opening file: ")

    monkeypatch.setattr(sf, "write", system_error)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(DiskFullError, match=r"no space left.*4\.1 kB free"):
        write_synthetic_corpus(tmp_path / "synthetic", n_videos=4, seed=0, workers=1)


def test_cache_refuses_to_start_without_the_space_it_needs(tmp_path, monkeypatch):
    segs = make_segments(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DiskFullError, match=rf"{tmp_path / 'cache'}: not enough free space.*needs about"):
        build(tmp_path, segs)
    assert leftovers(tmp_path) == []


def test_cache_build_that_hits_a_full_disk_is_one_message_and_no_temp(tmp_path, monkeypatch):
    segs = make_segments(tmp_path)
    monkeypatch.setattr(cache, "write_segment_columns", enospc)
    with pytest.raises(DiskFullError, match=rf"{tmp_path / 'cache'}: no space left.*[\d.]+ [kMG]B free"):
        build(tmp_path, segs)
    assert leftovers(tmp_path) == []


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    last = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "w": torch.ones(1000)}, last)
    good = last.read_bytes()

    def full_after_writing(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full_after_writing)  # the bytes went out; the disk filled on the way
    with pytest.raises(DiskFullError, match=rf"{last.parent}: no space left.*needs about [\d.]+ kB"):
        io.save_checkpoint({"epoch": 2, "w": torch.zeros(1000)}, last)
    assert last.read_bytes() == good
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # no temporary file left
    assert torch.load(last, weights_only=False)["epoch"] == 1
