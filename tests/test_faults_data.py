"""Fault injection, bad files: one bad WAV, csd entry or transcript line is skipped and counted (the rest of
the corpus is built), or stops the build under data.strict; silent or cancelling audio is reported; the SDK's
own metadata encoding is read, and a labels file whose column order cannot be established is refused."""

from __future__ import annotations

import functools
import logging

import h5py
import numpy as np
import pytest
import soundfile as sf

from mosei_attn.data.cache.build import FeatureExtractionError
from mosei_attn.data.cache.reader import FeatureCache
from mosei_attn.data.cache.tally import NOTE_CANCEL, NOTE_CUT_SHORT, NOTE_SILENT
from mosei_attn.data.corpora.csd import ComputationalSequence, CsdFormatError
from mosei_attn.data.corpora.labels import LABEL_COLUMNS
from mosei_attn.data.corpora.mosei import MoseiCorpus
from mosei_attn.data.corpora.mosei_layout import AUDIO_DIR, LABELS_FILE, TRANSCRIPT_DIR
from mosei_attn.data.datamodule import MoseiDataModule
from tests.corpus_helpers import WORD_DIM, build_corpus

SR = 16_000
#: Tiny spectrograms (as the TINY overlay's): 8 kHz, 16 rows, 64 frames of 8 ms.
AUDIO = {"n_fft": 64, "win_length": 64, "hop_length": 64, "freq_bins": 16, "max_frames": 64}
SEGMENT = (0.5, 1.5)  # seconds: every video holds one segment with one word inside it


def videos(names: list[str]) -> dict[str, dict]:
    return {
        v: {"segments": [SEGMENT], "words": [("hello", 0.7, 1.0)], "transcript": None, "wav": True}
        for v in names
    }


def tone(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def corpus_with(tmp_path, faults: dict[str, object], good: int = 4):
    """A corpus of ``good`` sound videos (2 s WAVs; train, train, valid, test ...) and one video per fault,
    the WAV of which ``faults[name](path)`` then writes. Returns (root, folds path)."""
    names = [f"good{i}" for i in range(good)] + list(faults)
    folds = {"train": [n for i, n in enumerate(names) if i % 4 < 2], "valid": [], "test": []}
    folds["valid"] = [n for i, n in enumerate(names) if i % 4 == 2]
    folds["test"] = [n for i, n in enumerate(names) if i % 4 == 3]
    root = tmp_path / "mosei"
    folds_path = build_corpus(root, videos(names), folds)
    for name in names:
        sf.write(root / AUDIO_DIR / f"{name}.wav", tone(2.0), SR)
    for name, write in faults.items():
        write(root / AUDIO_DIR / f"{name}.wav")
    return root, folds_path


def datamodule(root, folds, tmp_path, strict: bool = False) -> MoseiDataModule:
    corpus = functools.partial(MoseiCorpus, root, folds=folds, word_dim=WORD_DIM, strict=strict)
    return MoseiDataModule(
        corpus,
        name="faults",
        cache_dir=str(tmp_path / "cache"),
        audio=AUDIO,
        text={"max_words": 4, "dim": WORD_DIM},
        feature_workers=1,
        strict=strict,
    )


def truncated(path):
    sf.write(path, tone(2.0), SR)
    path.write_bytes(path.read_bytes()[: 44 + 2 * 1000])  # the header still says 2 s; 1000 samples remain


WAV_FAULTS = {
    "corrupt": lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4),
    "empty": lambda p: p.write_bytes(b""),
    "truncated": truncated,
    "rate4k": lambda p: sf.write(p, tone(2.0, sr=4000), 4000),
    "short": lambda p: sf.write(p, tone(0.3), SR),  # the segment starts past its end
}
EXPECTED_SKIPS = {
    "unreadable audio file": 2,  # corrupt, empty
    "audio sample rate too low": 1,
    "starts past the end of its audio": 2,  # short; truncated (its samples end before the segment starts)
}


def test_bad_wavs_are_skipped_with_reasons_and_the_rest_is_built(tmp_path, caplog):
    faults = {**WAV_FAULTS, "partial": lambda p: sf.write(p, tone(1.0), SR)}  # the segment runs past its end
    root, folds = corpus_with(tmp_path, faults)
    (root / TRANSCRIPT_DIR).mkdir(parents=True, exist_ok=True)
    (root / TRANSCRIPT_DIR / "good0.txt").write_text("good0___1___0.5\n")  # malformed: 3 fields
    dm = datamodule(root, folds, tmp_path)
    with caplog.at_level(logging.WARNING):
        dm.prepare_data()
    attrs = FeatureCache(dm.cache_path).attrs
    assert attrs["skipped"] == {**EXPECTED_SKIPS, "malformed transcript line": 1}
    assert attrs["counts"]["total"] == 5  # the 4 good videos and the partial one
    assert attrs["audio_notes"]["counts"] == {NOTE_CUT_SHORT: 1}
    assert attrs["audio_notes"]["examples"][NOTE_CUT_SHORT] == ["partial[0]"]
    examples = " ".join(attrs["skipped_examples"]["unreadable audio file"])
    assert "corrupt.wav" in examples and "empty.wav" in examples
    assert "good0.txt:1" in attrs["skipped_examples"]["malformed transcript line"][0]
    assert "skipped 1 segment(s): audio sample rate too low" in caplog.text
    assert f"kept with {NOTE_CUT_SHORT}" in caplog.text
    dm.setup()
    assert sorted(dm.dataset("train").cache.video_id) == ["good0", "good1", "good2", "good3", "partial"]


def test_strict_stops_at_the_first_bad_wav_and_names_it(tmp_path):
    root, folds = corpus_with(tmp_path, {"corrupt": WAV_FAULTS["corrupt"]})
    with pytest.raises(FeatureExtractionError, match=r"corrupt\[0\].*corrupt\.wav"):
        datamodule(root, folds, tmp_path, strict=True).prepare_data()
    assert not list((tmp_path / "cache").glob("*.h5"))


def test_strict_stops_at_a_malformed_transcript_line(tmp_path):
    root, folds = corpus_with(tmp_path, {})
    (root / TRANSCRIPT_DIR).mkdir(parents=True, exist_ok=True)
    (root / TRANSCRIPT_DIR / "good1.txt").write_text("good1___1___x___y___text\n")
    with pytest.raises(ValueError, match=r"good1\.txt, line 1: malformed"):
        datamodule(root, folds, tmp_path, strict=True).prepare_data()


def test_silence_and_cancelling_channels_are_reported(tmp_path, caplog):
    def cancelling(path):
        x = tone(2.0)
        sf.write(path, np.stack([x, -x], axis=1), SR)

    faults = {"silent": lambda p: sf.write(p, np.zeros(2 * SR, np.float32), SR), "cancel": cancelling}
    root, folds = corpus_with(tmp_path, faults)
    dm = datamodule(root, folds, tmp_path)
    with caplog.at_level(logging.WARNING):
        dm.prepare_data()
    attrs = FeatureCache(dm.cache_path).attrs
    assert attrs["audio_notes"]["counts"] == {NOTE_SILENT: 1, NOTE_CANCEL: 1}
    assert "silent[0]" in attrs["audio_notes"]["examples"][NOTE_SILENT]
    assert "1 segment(s) kept with silent audio" in caplog.text
    with FeatureCache(dm.cache_path) as cache:
        rows = {v: i for i, v in enumerate(cache.video_id)}
        assert not cache.item(rows["silent"])["spec"].any()
        # the cancelling channels are read as one channel: the tone is there, as in a sound video's
        # spectrogram
        np.testing.assert_allclose(cache.item(rows["cancel"])["spec"], cache.item(rows["good0"])["spec"])


def damage_entry(path, video: str) -> None:
    """Overwrite the start of the (gzip) chunk holding ``video``'s features: garbage inside, not a
    truncation."""
    with h5py.File(path, "r") as f:
        ds = f[f"{next(iter(f))}/data/{video}/features"]
        offset = ds.id.get_chunk_info(0).byte_offset if ds.chunks else ds.id.get_offset()
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * 16)


def test_garbage_in_a_csd_names_file_and_video_and_skips_the_video(tmp_path, caplog):
    root, folds = corpus_with(tmp_path, {}, good=6)
    damage_entry(root / LABELS_FILE, "good1")
    with ComputationalSequence(root / LABELS_FILE) as seq, pytest.raises(CsdFormatError) as e:
        seq["good1"]
    assert str(root / LABELS_FILE) in str(e.value) and "'good1'" in str(e.value) and e.value.damaged
    with caplog.at_level(logging.WARNING):
        segments, report = MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).scan()
    assert report["unreadable csd entry"] == 1 and report.examples["unreadable csd entry"] == ["good1"]
    assert sorted(s.video_id for s in segments) == ["good0", "good2", "good3", "good4", "good5"]
    assert "skipping video 'good1'" in caplog.text and LABELS_FILE in caplog.text
    with pytest.raises(CsdFormatError, match="good1"):
        MoseiCorpus(root, folds=folds, word_dim=WORD_DIM, strict=True).scan()


# The CMU-MultimodalSDK's deploy -----------------------------------------------------------------------------
def write_sdk_labels(path, data: dict, dimension_names) -> None:
    """A labels csd written the way the SDK's deploy writes it: gzip level 9, and every metadata value
    stored as ``str(value)`` in a (1,) variable-length string (Python's repr: single quotes)."""
    metadata = {
        "root name": "All Labels",
        "computational sequence description": "Labels",
        "dimension names": dimension_names,
        "computational sequence version": 1.0,
        "alignment compatible": True,
        "dataset name": "CMU-MOSEI",
        "dataset version": 1.0,
        "creator": "x",
        "contact": "x",
        "featureset bib citation": "x",
        "dataset bib citation": "x",
        "uuid": "8f7c",
        "md5": None,
    }
    if dimension_names is None:
        del metadata["dimension names"]
    with h5py.File(path, "w") as f:
        root = f.create_group("All Labels")
        grp = root.create_group("data")
        for vid, (features, intervals) in data.items():
            e = grp.create_group(vid)
            e.create_dataset("features", data=features, compression="gzip", compression_opts=9)
            e.create_dataset("intervals", data=intervals, compression="gzip", compression_opts=9)
        meta = root.create_group("metadata")
        for key, value in metadata.items():
            meta.create_dataset(key, (1,), dtype=h5py.special_dtype(vlen=str))
            meta[key][0] = str(value)


def sdk_corpus(tmp_path, dimension_names):
    root, folds = corpus_with(tmp_path, {})
    with ComputationalSequence(root / LABELS_FILE) as seq:
        data = {v: seq[v] for v in seq}
    write_sdk_labels(root / LABELS_FILE, data, dimension_names)
    return root, folds, data


def test_sdk_metadata_is_read_and_the_label_order_is_checked(tmp_path):
    root, folds, data = sdk_corpus(tmp_path, list(LABEL_COLUMNS))
    with ComputationalSequence(root / LABELS_FILE) as seq:
        meta = seq.metadata
    raw = h5py.File(root / LABELS_FILE)["All Labels/metadata/dimension names"][0]
    assert (raw.decode() if isinstance(raw, bytes) else raw).startswith("['sentiment', 'happy'")  # not JSON
    assert meta["dimension names"] == list(LABEL_COLUMNS) and meta["alignment compatible"] is True
    assert meta["dataset version"] == 1.0 and meta["creator"] == "x" and meta["md5"] is None
    segments, _ = MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).scan()
    np.testing.assert_array_equal(segments[0].labels, data["good0"][0][0])


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["sentiment", "anger", "disgust", "fear", "happy", "sad", "surprise"], "alphabetical order"),
        (None, "cannot establish the order"),
        ("sentiment happy sad anger surprise disgust fear", "cannot establish the order"),
    ],
    ids=["2018-order", "absent", "plain-text"],
)
def test_labels_whose_order_is_wrong_or_unknown_are_refused(tmp_path, names, message):
    root, folds, _ = sdk_corpus(tmp_path, names)
    with pytest.raises(ValueError, match=message) as e:
        MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).scan()
    assert str(root / LABELS_FILE) in str(e.value)


def test_metadata_literals_are_never_evaluated_as_code(tmp_path):
    root, _, data = sdk_corpus(tmp_path, "__import__('os').system('echo hacked')")
    with ComputationalSequence(root / LABELS_FILE) as seq:
        assert seq.metadata["dimension names"] == "__import__('os').system('echo hacked')"


def test_prepare_prints_what_was_skipped(tmp_path, capsys):
    from mosei_attn.prepare import prepare_cache
    from tests.conftest import compose_config

    root, folds = corpus_with(
        tmp_path, {"corrupt": WAV_FAULTS["corrupt"], "partial": lambda p: sf.write(p, tone(1.0), SR)}
    )
    shapes = [f"data.audio.{k}={v}" for k, v in AUDIO.items()]
    cfg = compose_config(
        "prepare",
        [
            "data=mosei",
            f"data.root={root}",
            f"data.corpus.folds={folds}",
            "data.name=faults",
            f"data.text.dim={WORD_DIM}",
            "data.text.max_words=4",
            "data.feature_workers=1",
            f"paths.data_dir={tmp_path}",
            *shapes,
        ],
        tmp_path / "out",
    )
    for _ in range(2):  # built, then reused: the report comes from the cache
        prepare_cache(cfg)
        out = capsys.readouterr().out
        assert "skipped, by reason: {'unreadable audio file': 1}" in out
        assert f"kept with a remark: {{'{NOTE_CUT_SHORT}': 1}}" in out
