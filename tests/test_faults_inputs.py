"""Fault injection, inputs and the cache: NaN audio is skipped in a corpus build, a NaN in the cache or
damaged HDF5 metadata is an error naming the file, Ctrl-C stops a cache build promptly and leaves no temporary
file,
``data.verify=content`` sees a WAV replaced in place, a manifest's relative paths and shared audio are
explained, evaluate follows the data folder, fresh runs do not warn about deleting logs, and a W&B run that
cannot reach its server says how to run offline."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from mosei_attn.data.cache.reader import CacheCorruptError, FeatureCache
from mosei_attn.data.corpora.manifest import ManifestCorpus
from mosei_attn.train import train
from tests.conftest import TINY, compose_config, evaluate_checkpoint, load_factor
from tests.test_cache import build, make_segments
from tests.test_faults_cli import REPO
from tests.test_faults_data import SR, corpus_with, datamodule, tone
from tests.test_manifest import folder, vectors, write_csv  # noqa: F401  (fixtures)


def test_nan_audio_is_skipped_and_counted_in_a_corpus_build_and_its_reuse(tmp_path, monkeypatch, caplog):
    def nan(path):
        x = tone(2.0)
        x[SR : SR + 5] = np.nan
        sf.write(path, x, SR, subtype="FLOAT")

    root, folds = corpus_with(tmp_path, {"nan": nan})
    dm = datamodule(root, folds, tmp_path)
    dm.prepare_data()
    attrs = FeatureCache(dm.cache_path).attrs
    assert attrs["skipped"] == {"NaN or infinite audio samples": 1} and attrs["counts"]["total"] == 4
    assert "nan.wav" in attrs["skipped_examples"]["NaN or infinite audio samples"][0]
    # the next run reuses the cache without reading the corpus (a real MOSEI csd is GBs), and says what it
    # skipped
    monkeypatch.setattr(type(dm.corpus()), "scan", lambda self: pytest.fail("the corpus was read again"))
    again = datamodule(root, folds, tmp_path)
    with caplog.at_level(logging.INFO):
        again.prepare_data()
    assert again.cache_path == dm.cache_path and "reused (4 segments)" in caplog.text
    assert (
        "skipped 1 segment(s): NaN or infinite audio samples (e.g. " in caplog.text
        and "nan.wav" in caplog.text
    )


def test_a_reused_cache_logs_the_segments_its_build_kept_with_a_note(tmp_path, caplog):
    root, folds = corpus_with(tmp_path, {"quiet": lambda path: sf.write(path, np.zeros(2 * SR), SR)})
    logs = []
    for _ in range(2):  # the build, then a run that reuses its cache
        caplog.clear()
        with caplog.at_level(logging.INFO):
            datamodule(root, folds, tmp_path).prepare_data()
        logs.append([r.getMessage() for r in caplog.records if "kept with silent audio" in r.getMessage()])
    assert "reused" in caplog.text and len(logs[0]) == 1 and "quiet" in logs[0][0] and logs[1] == logs[0]


def test_a_nan_in_the_cache_is_refused_although_the_checksum_passes(tmp_path):
    path = build(tmp_path, make_segments(tmp_path))
    with h5py.File(path, "r") as f:  # Fletcher-32 cannot tell 0x0000 from 0xFFFF: padding -> NaN passes it
        info = f["spec"].id.get_chunk_info_by_coord((0, 0, 0))
    with open(path, "r+b") as raw:
        raw.seek(info.byte_offset + info.size - 4 - 16)  # the last 16 bytes of data before the checksum
        assert raw.read(16) == bytes(16)  # zero padding
        raw.seek(info.byte_offset + info.size - 4 - 16)
        raw.write(b"\xff" * 16)
    with FeatureCache(path) as fc, pytest.raises(CacheCorruptError, match=rf"{path}: dataset 'spec'.*NaN"):
        fc.batch([0, 1])


def test_damaged_hdf5_metadata_names_the_file_and_says_rebuild(tmp_path, monkeypatch):
    path = build(tmp_path, make_segments(tmp_path))

    def bad_version(self, name):
        raise KeyError("Unable to synchronously open object (bad version number for datatype message)")

    monkeypatch.setattr(h5py.Group, "__getitem__", bad_version)
    with (
        FeatureCache(path) as fc,
        pytest.raises(CacheCorruptError, match=rf"{path}: dataset '\w+'.*metadata.*delete it"),
    ):
        fc.batch([0])


# A terminal's Ctrl-C reaches a process whose SIGINT is Python's default handler. A test run started in the
# background of a non-interactive shell (`make test &`) inherits SIGINT ignored, and so would the child: the
# signal would be dropped and the build run on (seen as exit 0). The child restores the terminal's case.
SIGINT_SCRIPT = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np, soundfile as sf
from pathlib import Path
from mosei_attn.data.cache.build import build_cache
from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures
from mosei_attn.data.corpora.segment import Segment
out = Path(sys.argv[1])
noise = 0.1 * np.random.default_rng(0).standard_normal(16000 * 10)
sf.write(out / "long.wav", noise.astype(np.float32), 16000)
segs = [
    Segment(
        video_id="v",
        index=i,
        start=0.0,
        end=8.0,
        words=("a",),
        word_vectors=np.ones((1, 4), np.float32),
        labels=np.zeros(7, np.float32),
        fold="train",
        audio_path=out / "long.wav",
    )
    for i in range(20000)
]
text = TextFeatures(max_words=4, dim=4)
build_cache(segs, AudioFeatures(), text, out / "cache", "sigint", "fp", workers=2, progress=False)
"""


def test_ctrl_c_stops_a_cache_build_promptly_and_leaves_no_temp(tmp_path):
    """Ctrl-C once the build is writing rows: the build stops (between two segments) with an error and
    removes its temporary file. Every wait polls for its event, with a deadline that grows with the load."""
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_SCRIPT, str(tmp_path)],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def poll(event, seconds: float):
        deadline = time.monotonic() + seconds * load_factor()
        while not (found := event()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return found

    def writing():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        return list(cache.glob("*.tmp-*"))

    try:
        (tmp,) = poll(writing, 120)
        size = tmp.stat().st_size
        poll(lambda: not tmp.exists() or tmp.stat().st_size > size, 30)  # rows reach the file
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        stopped = poll(lambda: proc.poll() is not None, 60)
        assert stopped, f"the build still runs {60 * load_factor():.0f} s after Ctrl-C"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, proc.stderr.read().decode()[-2000:]
    assert list(cache.iterdir()) == []


def test_verify_content_sees_a_wav_replaced_with_same_size_and_mtime(tmp_path):
    root, folds = corpus_with(tmp_path, {})
    wav = root / "Raw" / "Audio" / "Full" / "WAV_16000" / "good1.wav"
    stamp = wav.stat()
    paths = {}
    for verify in ("stat", "content"):
        dm = datamodule(root, folds, tmp_path)
        dm.verify = verify
        dm.prepare_data()
        paths[verify] = dm.cache_path
    sf.write(wav, 0.5 * tone(2.0), SR)  # other samples, same size: as `cp -p`, `rsync -a` or `tar` leave it
    os.utime(wav, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert wav.stat().st_size == stamp.st_size
    for verify in ("stat", "content"):
        dm = datamodule(root, folds, tmp_path)
        dm.verify = verify
        dm.prepare_data()
        assert (dm.cache_path == paths[verify]) == (verify == "stat")


def test_verify_content_reads_the_corpus_once_per_run(tmp_path, monkeypatch):
    """prepare_data and setup both need the content fingerprint: every input byte is read once, not twice
    (a real MOSEI copy is 126 GB)."""
    import mosei_attn.data.datamodule as datamodule_module

    root, folds = corpus_with(tmp_path, {})
    dm = datamodule(root, folds, tmp_path)
    dm.verify = "content"
    opened = []

    def counted_open(path, *args, **kwargs):
        opened.append(Path(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(datamodule_module, "open", counted_open, raising=False)
    dm.prepare_data()
    dm.setup("fit")
    inputs = dm.corpus().input_files()
    assert len(inputs) > 1 and sorted(opened) == sorted(inputs)  # each input file once


def test_a_manifest_explains_relative_paths_and_flags_audio_shared_by_splits(folder, vectors, caplog):  # noqa: F811
    sub = folder / "mdata"
    sub.mkdir()
    header = ["audio", "text", "emotion", "split"]
    write_csv(sub / "m.csv", header, [["mdata/wav/a16k.wav", "hello", "happy", "train"]])
    with pytest.raises(ValueError, match=r"relative to the manifest's folder"):
        ManifestCorpus(sub / "m.csv", vectors, min_examples=1).scan()
    shutil.copy(folder / "wav" / "a16k.wav", folder / "wav" / "copy.wav")
    rows = [
        ["wav/a16k.wav", "hello", "happy", "train"],
        ["wav/copy.wav", "hello", "happy", "test"],
        ["wav/b44k.wav", "hello", "sad", "train"],
        ["wav/b44k.wav", "hello", "sad", "valid"],
    ]
    write_csv(folder / "m.csv", header, rows)
    with caplog.at_level(logging.WARNING):
        ManifestCorpus(folder / "m.csv", vectors, min_examples=1).scan()
    assert "the same audio in more than one split" in caplog.text
    assert "copy.wav" in caplog.text and "b44k.wav" in caplog.text


def test_evaluate_follows_the_data_folder_and_a_fresh_run_does_not_warn(data_dir, tmp_path):
    old, new = tmp_path / "old_data", tmp_path / "new_data"
    shutil.copytree(data_dir, old)
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("{}\n")  # as Hydra leaves a run folder before training
    cfg = compose_config("train", [*TINY, f"paths.data_dir={old}", "test=false", "trainer.max_epochs=1"], run)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg)
    assert not [w for w in caught if "Previous log files" in str(w.message)]
    old.rename(new)
    metrics = evaluate_checkpoint(run / "checkpoints" / "last.ckpt", new, tmp_path / "eval", "split=val")
    assert not old.exists()  # the corpus was read from the new folder, not generated again at the old one
    assert metrics["data"] and (tmp_path / "eval" / "metrics.json").is_file()


def test_shared_audio_reads_only_equal_sized_files_that_several_folds_use(tmp_path, monkeypatch):
    """Fixed-length clips (every file one size) used by one fold each are not read at all; two files of equal
    bytes in train and test are found, and a third of the same size in train is not mistaken for them."""
    from types import SimpleNamespace

    from mosei_attn.data import shared_audio as sa

    def clip(name: str, value: int) -> Path:
        path = tmp_path / name
        path.write_bytes(bytes([value]) * 64)
        return path

    one_fold = [SimpleNamespace(audio_path=clip(f"t{i}.wav", i), fold="train") for i in range(3)]
    read = []
    monkeypatch.setattr(sa, "_content_key", lambda p: read.append(p.name) or p.read_bytes().hex())
    assert sa.shared_audio(one_fold) == [] and read == []
    two_folds = [*one_fold, SimpleNamespace(audio_path=clip("copy.wav", 1), fold="test")]
    assert sa.shared_audio(two_folds) == [([tmp_path / "t1.wav", tmp_path / "copy.wav"], ["test", "train"])]
