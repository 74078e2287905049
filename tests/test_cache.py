"""The HDF5 feature cache: contents, reuse, atomic writes, refusal of stale caches, the lazy reader."""

from __future__ import annotations

import dataclasses
import pickle
import re
import tracemalloc

import h5py
import numpy as np
import pytest
import soundfile as sf

from mosei_attn.data.cache import build as cache
from mosei_attn.data.cache import reader as cache_reader
from mosei_attn.data.cache.build import FeatureExtractionError, build_cache, cache_path
from mosei_attn.data.cache.reader import (
    CacheCorruptError,
    CacheMismatchError,
    FeatureCache,
    open_cache,
    validate_cache,
)
from mosei_attn.data.corpora.labels import EMOTIONS, LABEL_COLUMNS
from mosei_attn.data.corpora.segment import Segment
from mosei_attn.data.features.audio import read_audio
from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures, feature_settings
from mosei_attn.data.skip_report import SKIP_REASONS, SkipReport
from tests.corpus_helpers import spoken

AUDIO = AudioFeatures(max_frames=120)
TEXT = TextFeatures(max_words=5, dim=4)
SR = 16000
FOLDS = ("train", "train", "valid", "test", "train")


def make_segments(tmp_path, n: int = 5, seconds: float = 4.0) -> list[Segment]:
    """``n`` segments over two WAV files at 16 kHz, with 1-7 words of ``TEXT.dim``-d vectors each."""
    rng = np.random.default_rng(1)
    wavs = []
    for v in range(2):
        wavs.append(tmp_path / f"vid{v}.wav")
        sf.write(wavs[-1], 0.1 * rng.standard_normal(int(SR * seconds)).astype(np.float32), SR)
    segs = []
    for i in range(n):
        n_words = 1 + i + (i % 2)
        start = 0.3 * i
        segs.append(
            Segment(
                video_id=f"vid{i % 2}",
                index=i // 2,
                start=start,
                end=start + 0.4 + 0.5 * i,
                words=tuple(f"w{i}_{k}" for k in range(n_words)),
                word_vectors=rng.standard_normal((n_words, TEXT.dim)).astype(np.float32),
                labels=rng.uniform(0, 3, len(LABEL_COLUMNS)).astype(np.float32),
                fold=FOLDS[i % len(FOLDS)],
                audio_path=wavs[i % 2],
            )
        )
    return segs


def build(tmp_path, segs, **kw):
    kw = {"audio": AUDIO, "text": TEXT, "fingerprint": "fp1", "workers": 1, "progress": False, **kw}
    return build_cache(segs, cache_dir=tmp_path / "cache", name="tiny", **kw)


def leftovers(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").glob("*"))


def test_build_writes_datasets_and_attributes(tmp_path):
    segs = make_segments(tmp_path)
    reader = SkipReport("corpus reader", reasons=SKIP_REASONS)
    reader.add("no audio file", ["v[0]", "v[1]"])
    path = build(tmp_path, segs, skipped=reader)
    assert re.fullmatch(r"tiny-[0-9a-f]{12}\.h5", path.name) and leftovers(tmp_path) == [path.name]
    n, (f_, t), (lw, d) = len(segs), (AUDIO.freq_bins, AUDIO.max_frames), (TEXT.max_words, TEXT.dim)
    with h5py.File(path) as f:
        assert (
            f["spec"].shape == (n, f_, t) and f["spec"].dtype == np.float16 and f["spec"].chunks == (1, f_, t)
        )
        assert f["words"].shape == (n, lw, d) and f["words"].chunks == (1, lw, d)
        assert f["labels"].dtype == np.float32 and f["spec_len"].dtype == np.int32
        assert f["speech"].shape == (n, t) and f["speech"].dtype == bool
        assert all(f[k].fletcher32 for k in f) and f["spec"].compression is None  # every dataset checked
        np.testing.assert_array_equal(f["labels"][()], np.stack([s.labels for s in segs]))
        assert list(f["segment_id"].asstr()[()]) == [s.segment_id for s in segs]
        assert list(f["fold"].asstr()[()]) == [s.fold for s in segs]
        assert f["text"].asstr()[1] == " ".join(segs[1].words)
        np.testing.assert_allclose(f["end"][()], [s.end for s in segs])
        # Rows hold each segment's own features, in segment order.
        for i in (0, n - 1):
            spec, length, speech = AUDIO.extract(*read_audio(segs[i].audio_path, segs[i].start, segs[i].end))
            assert f["spec_len"][i] == length == AUDIO.n_frames_for(segs[i].duration)
            np.testing.assert_allclose(f["spec"][i], spec, atol=1e-3)
            np.testing.assert_array_equal(f["speech"][i], speech)
            words, word_len = TEXT.compute(segs[i].word_vectors)
            assert f["word_len"][i] == word_len == min(len(segs[i].words), TEXT.max_words)
            np.testing.assert_allclose(f["words"][i], words, atol=1e-2)
    attrs = FeatureCache(path).attrs
    assert attrs["emotion_names"] == list(EMOTIONS) and attrs["label_columns"] == list(LABEL_COLUMNS)
    assert attrs["features"] == feature_settings(AUDIO, TEXT) and attrs["fingerprint"] == "fp1"
    assert attrs["counts"] == {"train": 3, "valid": 1, "test": 1, "total": 5}
    assert (
        attrs["skipped"] == {"no audio file": 2}
        and attrs["format_version"] == cache_reader.FEATURE_CACHE_VERSION
    )
    assert attrs["skipped_examples"] == {"no audio file": ["v[0]", "v[1]"]}


def test_the_speech_mask_round_trips_through_the_cache(tmp_path):
    """Silence, words, silence, words 30 dB quieter, silence: the cache's speech row (and the reader's batch)
    is the extractor's mask, speech in both stretches of words, False in the silences and past the frames."""
    gap = np.zeros(SR, np.float32)
    loud = spoken(4, 0, seed=1)
    quiet = spoken(3, -30, seed=2)
    sf.write(tmp_path / "voice.wav", np.concatenate([gap, loud, gap, quiet, gap]), SR)
    t = np.cumsum([0.0, *(len(p) / SR for p in (gap, loud, gap, quiet, gap))])  # the stretches' bounds (s)
    seg = dataclasses.replace(make_segments(tmp_path, n=1)[0], audio_path=tmp_path / "voice.wav", end=t[-1])
    audio = AudioFeatures(hop_length=320, max_frames=200)
    path = build(tmp_path, [seg, dataclasses.replace(seg, index=1, start=t[2])], audio=audio)
    with FeatureCache(path) as fc:
        got = fc.batch([1, 0])
    _, length, speech = audio.extract(*read_audio(seg.audio_path, seg.start, seg.end))
    np.testing.assert_array_equal(got["speech"][1], speech)
    hop = audio.hop_length / audio.sample_rate
    middles = [round((a + b) / 2 / hop) for a, b in zip(t[:-1], t[1:], strict=True)]
    assert speech[middles].tolist() == [False, True, False, True, False] and not speech[length:].any()
    assert got["speech"].dtype == bool and got["speech"][0].sum() < speech.sum()  # the later cut's own mask


def test_a_cache_without_the_speech_mask_is_refused(tmp_path):
    """A cache of format 3 (no speech column) is not read: asked for by name it is refused naming the
    format version; build_cache builds its own beside it (test below: the old file is named)."""
    segs = make_segments(tmp_path, n=2)
    path = build(tmp_path, segs)
    with h5py.File(path, "r+") as f:
        del f["speech"]
        f.attrs["format_version"] = 3
    with pytest.raises(
        CacheMismatchError,
        match=rf"'format_version' is 3 but {cache_reader.FEATURE_CACHE_VERSION} was expected"
        r".*delete the file",
    ):
        validate_cache(path, AUDIO, TEXT, "fp1", EMOTIONS)


def test_reuse_without_recomputing_and_new_file_for_new_inputs(tmp_path, monkeypatch):
    segs = make_segments(tmp_path, n=2)
    path = build(tmp_path, segs)
    mtime = path.stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("features recomputed for an existing cache")

    monkeypatch.setattr(cache, "_extract_one", boom)
    assert build(tmp_path, segs) == path and path.stat().st_mtime_ns == mtime
    monkeypatch.undo()
    other = build(tmp_path, segs, audio=AudioFeatures(max_frames=120, hop_length=80))
    assert other != path and other.exists()
    assert build(tmp_path, segs, fingerprint="fp2") not in (path, other)
    assert len(leftovers(tmp_path)) == 3


@pytest.mark.parametrize("fault", ["corrupt", "missing"])
def test_strict_failed_read_names_segment_and_wav_and_leaves_no_file(tmp_path, fault):
    segs = make_segments(tmp_path)
    bad = tmp_path / "bad.wav"
    if fault == "corrupt":
        bad.write_bytes(b"RIFF garbage" * 20)
    segs[3] = dataclasses.replace(segs[3], audio_path=bad)
    with pytest.raises(FeatureExtractionError, match=re.escape(segs[3].segment_id) + r".*bad\.wav"):
        build(tmp_path, segs, strict=True)
    assert leftovers(tmp_path) == []  # neither a .h5 nor the temporary file


def test_interrupted_build_removes_temp_and_stale_temps(tmp_path, monkeypatch):
    segs = make_segments(tmp_path, n=3)
    target = cache_path(tmp_path / "cache", "tiny", AUDIO, TEXT, "fp1")
    target.parent.mkdir()
    stale = target.with_name(target.name + ".tmp-4194999")  # above Linux's pid_max: no such process
    stale.write_bytes(b"half-written")
    calls, real = [], cache._extract_one

    def interrupt_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(cache, "_extract_one", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, segs)
    assert leftovers(tmp_path) == []


def test_validate_refuses_mismatches_with_clear_messages(tmp_path):
    path = build(tmp_path, make_segments(tmp_path, n=2))
    assert validate_cache(path, AUDIO, TEXT, "fp1", EMOTIONS)["fingerprint"] == "fp1"
    cases = [
        ((AUDIO, TEXT, "fp-new", EMOTIONS), r"'fingerprint' is 'fp1' but 'fp-new'.*corpus changed"),
        ((AUDIO, TEXT, "fp1", sorted(EMOTIONS)), r"'emotion_names' is \['happy'.*but \['anger'"),
        (
            (AudioFeatures(max_frames=120, hop_length=80), TEXT, "fp1", EMOTIONS),
            r"'features\.audio\.hop_length' is 160 but 80",
        ),
        ((AUDIO, TextFeatures(max_words=5, dim=3), "fp1", EMOTIONS), r"'features\.text\.dim' is 4 but 3"),
    ]
    for args, msg in cases:
        with pytest.raises(CacheMismatchError, match=re.escape(str(path)) + ".*" + msg + ".*delete the file"):
            validate_cache(path, *args)
    with pytest.raises(CacheMismatchError, match="'counts.total' is 2 but 3"):
        open_cache(path, {"counts": {"train": 2, "total": 3}})
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = cache_reader.FEATURE_CACHE_VERSION + 1
    with pytest.raises(CacheMismatchError, match="format_version"):  # also on reuse by build_cache
        build(tmp_path, make_segments(tmp_path, n=2))
    with pytest.raises(FileNotFoundError, match="prepare"):
        validate_cache(tmp_path / "nope.h5", AUDIO, TEXT, "fp1", EMOTIONS)


def test_feature_cache_reader_is_lazy_and_picklable(tmp_path):
    segs = make_segments(tmp_path, n=3)
    path = build(tmp_path, segs)
    fc = open_cache(path, {"fingerprint": "fp1"})
    assert fc._h5 is None  # nothing opened until first access
    assert len(fc) == 3 and list(fc.fold) == ["train", "train", "valid"]
    item = fc.item(-1)
    assert item["spec"].dtype == np.float32 and item["spec"].shape == (AUDIO.freq_bins, AUDIO.max_frames)
    np.testing.assert_allclose(item["labels"], segs[2].labels)
    assert int(item["word_len"]) == min(len(segs[2].words), TEXT.max_words)
    copy = pickle.loads(pickle.dumps(fc))  # with an open handle: the copy drops and reopens it
    assert copy._h5 is None
    np.testing.assert_array_equal(copy.item(2)["spec"], item["spec"])
    assert list(copy.segment_id) == [s.segment_id for s in segs] and copy.text[0] == "w0_0"
    with pytest.raises(IndexError, match="out of range"):
        fc.item(3)
    fc.close()


@pytest.mark.slow
def test_worker_pool_matches_in_process(tmp_path):
    segs = make_segments(tmp_path, n=6)
    one = build(tmp_path / "a", segs, workers=1)
    two = build(tmp_path / "b", segs, workers=2)
    with h5py.File(one) as a, h5py.File(two) as b:
        for key in ("spec", "words", "spec_len", "word_len", "labels"):
            np.testing.assert_array_equal(a[key][()], b[key][()])
    segs[4] = dataclasses.replace(segs[4], audio_path=tmp_path / "gone.wav")  # errors cross the pool
    with pytest.raises(FeatureExtractionError, match=re.escape(segs[4].segment_id) + r".*gone\.wav"):
        build(tmp_path / "c", segs, workers=2, strict=True)
    assert not list((tmp_path / "c" / "cache").glob("*"))


def test_batch_reads_rows_in_the_order_asked(tmp_path):
    segs = make_segments(tmp_path)
    fc = FeatureCache(build(tmp_path, segs))
    rows = [3, 0, 3, 4]  # unsorted, with a repeat
    b = fc.batch(rows)
    assert b["spec"].dtype == np.float16 and b["spec"].shape == (4, AUDIO.freq_bins, AUDIO.max_frames)
    with h5py.File(fc.path) as f:
        for key in ("spec", "words", "spec_len", "word_len", "labels"):
            np.testing.assert_array_equal(b[key], np.stack([f[key][r] for r in rows]), err_msg=key)
    np.testing.assert_array_equal(fc.item(3)["spec"], b["spec"][0].astype(np.float32))
    with pytest.raises(IndexError, match="out of range"):
        fc.batch([0, 5])
    fc.close()


def damage_chunk(path, key: str, row: int = 0) -> None:
    """Overwrite 16 bytes in the middle of the stored chunk holding ``row`` of dataset ``key``."""
    with h5py.File(path, "r") as f:
        ds = f[key]
        coord = tuple(row - row % ds.chunks[0] if i == 0 else 0 for i in range(ds.ndim))
        info = ds.id.get_chunk_info_by_coord(coord)
    with open(path, "r+b") as raw:
        raw.seek(info.byte_offset + info.size // 2)
        old = raw.read(16)
        raw.seek(info.byte_offset + info.size // 2)
        raw.write(bytes(b ^ 0x5A for b in old))


@pytest.mark.parametrize("key", ["spec", "words", "labels", "fold", "spec_len"])
def test_damaged_chunk_is_an_error_naming_the_cache(tmp_path, key):
    path = build(tmp_path, make_segments(tmp_path))
    damage_chunk(path, key, row=2)
    fc = FeatureCache(path)
    with pytest.raises(CacheCorruptError, match=re.escape(str(path)) + f".*'{key}'.*damaged.*rebuild"):
        if key in ("spec", "words"):
            fc.batch([1, 2])
        else:
            fc.column(key)
    if key in ("spec", "words"):
        assert fc.batch([0, 1, 3])["spec"].shape[0] == 3  # the other chunks still read
    fc.close()


def test_cache_of_an_older_format_is_not_used_and_said_so(tmp_path, caplog):
    segs = make_segments(tmp_path, n=2)
    path = build(tmp_path, segs)
    old = path.with_name("tiny-000000000000.h5")  # as an older version named it: another key
    path.rename(old)
    with h5py.File(old, "r+") as f:
        f.attrs["format_version"] = cache_reader.FEATURE_CACHE_VERSION - 1
    with caplog.at_level("WARNING"):
        assert build(tmp_path, segs) == path and path.is_file()
    old_version = cache_reader.FEATURE_CACHE_VERSION - 1
    assert re.search(re.escape(str(old)) + rf".*format version {old_version}.*not used", caplog.text)
    with pytest.raises(CacheMismatchError, match="format_version"):
        validate_cache(old, AUDIO, TEXT, "fp1", EMOTIONS)


def test_a_batch_reads_each_row_once_checks_it_once_and_allocates_only_its_arrays(tmp_path, monkeypatch):
    """What halved the loader's rate, counted: a NaN scan of every batch that allocated a boolean array the
    size of the batch (docs/benchmarks.md). A batch is one HDF5 read per row and dataset, each row's NaN check
    runs once per process, and a warm batch allocates nothing beyond the arrays it returns."""
    path = build(tmp_path, make_segments(tmp_path))
    calls = {"read": 0, "finite": 0}
    for name in calls:
        method = getattr(cache_reader._RowReader, name)
        monkeypatch.setattr(
            cache_reader._RowReader,
            name,
            lambda self, *a, _m=method, _n=name: calls.update({_n: calls[_n] + 1}) or _m(self, *a),
        )
    rows = [4, 0, 3, 1]
    with FeatureCache(path) as fc:
        fc.batch(rows)
        assert calls == {"read": 2 * len(rows), "finite": 2 * len(rows)}  # spec and words
        tracemalloc.start()
        batch = fc.batch([*rows, 2])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert calls == {"read": 4 * len(rows) + 2, "finite": 2 * len(rows) + 2}  # only row 2 is new
    returned = sum(v.nbytes for v in batch.values())
    assert batch["spec"].nbytes > 100_000 and peak < returned + 20_000  # Python objects: a few KiB


def test_a_new_format_version_names_a_new_cache(tmp_path, monkeypatch):
    """The version is part of the cache's name: code that reads another format never opens the old file
    (it builds its own beside it), whatever the features and the corpus."""
    before = cache_path(tmp_path, "tiny", AUDIO, TEXT, "fp1")
    monkeypatch.setattr(cache, "FEATURE_CACHE_VERSION", cache_reader.FEATURE_CACHE_VERSION + 1)
    assert cache_path(tmp_path, "tiny", AUDIO, TEXT, "fp1") != before
