"""The manifest corpus: CSV/JSONL, named and intensity labels, custom emotion sets, bad rows, fingerprint."""

from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest
import soundfile as sf

from mosei_attn.data.corpora.manifest import ManifestCorpus
from mosei_attn.data.corpora.segment import Segment
from mosei_attn.data.features import embeddings
from mosei_attn.data.features.embeddings import WordVectors

WORDS = ("hello", "world", "good", "day", "so", "sad")
DIM = 4


def vector(word: str) -> list[float]:
    """Every component of a word's vector is its position in ``WORDS`` + 1, so tests can tell rows apart."""
    return [float(WORDS.index(word) + 1)] * DIM


@pytest.fixture
def folder(tmp_path):
    """A data folder with a 16 kHz and a 44.1 kHz WAV (1 s each), a corrupt WAV, and tiny GloVe vectors."""
    (tmp_path / "wav").mkdir()
    for name, sr in (("a16k", 16_000), ("b44k", 44_100)):
        sf.write(tmp_path / "wav" / f"{name}.wav", np.zeros(sr, dtype=np.float32), sr)
    (tmp_path / "wav" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    glove = tmp_path / "glove.txt"
    glove.write_text("".join(f"{w} {' '.join(map(str, vector(w)))}\n" for w in WORDS), encoding="utf-8")
    return tmp_path


@pytest.fixture
def vectors(folder):
    return WordVectors.load(folder / "glove.txt", cache_dir=folder / "cache")


def skipped_rows(report) -> list[tuple[int, str, str]]:
    """A manifest reader's skip report as (row number, reason, detail), in file order."""
    return [(int(item.removeprefix("row ")), why, detail) for item, why, detail in report.entries]


def write_csv(path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])


def test_csv_named_emotions_good_and_bad_rows(folder, vectors, caplog):
    header = ["audio", "start", "end", "text", "emotion", "split"]
    write_csv(
        folder / "m.csv",
        header,
        [
            ["wav/a16k.wav", "0.1", "0.6", "Hello, world! xyzzy", "happy", "train"],  # row 2: good
            ["wav/b44k.wav", "", "", "so sad", "sad", "VAL"],  # row 3: good, whole file
            ["wav/missing.wav", "", "", "hello", "happy", "test"],  # row 4
            ["wav/broken.wav", "", "", "hello", "happy", "test"],  # row 5
            ["wav/a16k.wav", "", "", "  ?! ", "happy", "test"],  # row 6
            ["wav/a16k.wav", "", "", "qqq zzz", "happy", "test"],  # row 7
            ["wav/a16k.wav", "", "", "hello", "bored", "test"],  # row 8
            ["wav/a16k.wav", "", "", "hello", "happy", "holdout"],  # row 9
            ["wav/a16k.wav", "0.5", "0.5", "hello", "happy", "test"],  # row 10
            ["wav/a16k.wav", "2.0", "", "hello", "happy", "test"],  # row 11: past the end
            ["wav/a16k.wav", "x", "", "hello", "happy", "test"],  # row 12
            ["wav/a16k.wav", "hello"],  # row 13
        ],
    )
    corpus = ManifestCorpus(folder / "m.csv", vectors, emotions=["happy", "sad", "neutral"])
    with caplog.at_level(logging.INFO):
        segments, report = corpus.scan()
    a, b = segments
    assert isinstance(a, Segment) and (a.video_id, a.index, a.fold) == ("a16k", 2, "train")
    assert a.words == ("Hello", "world") and a.text == "Hello, world! xyzzy"
    np.testing.assert_allclose(a.word_vectors, [vector("hello"), vector("world")])
    np.testing.assert_allclose(a.labels, [0, 1, 0, 0])
    assert a.start == pytest.approx(0.1) and a.end == pytest.approx(0.6)
    assert a.audio_path == folder / "wav" / "a16k.wav"
    assert (b.video_id, b.index, b.fold, b.words) == ("b44k", 3, "valid", ("so", "sad"))
    np.testing.assert_allclose(b.labels, [0, 0, 1, 0])
    assert b.start == 0.0 and b.end == pytest.approx(1.0)  # the 44.1 kHz file's own length
    assert [(row, reason) for row, reason, _ in skipped_rows(report)] == [
        (4, "missing audio file"),
        (5, "unreadable audio file"),
        (6, "empty transcript"),
        (7, "no known word"),
        (8, "unknown label"),
        (9, "bad split"),
        (10, "start >= end"),
        (11, "start >= end"),
        (12, "bad times"),
        (13, "malformed row"),
    ]
    assert report["start >= end"] == 2 and corpus.skipped is report
    assert "missing.wav" in skipped_rows(report)[0][2] and "'bored'" in skipped_rows(report)[4][2]
    assert "skipped 1 row(s): bad split (e.g. row 9" in caplog.text
    assert "3 of 7 words" in caplog.text  # the words of kept rows and the 'no known word' row


def test_emotions_default_to_the_sorted_names_found(folder, vectors):
    write_csv(
        folder / "m.csv",
        ["audio", "text", "emotion", "split"],
        [
            ["wav/a16k.wav", "hello", "sad", "train"],
            ["wav/a16k.wav", "good day", "angry", "test"],
            ["wav/a16k.wav", "so", "", "test"],
        ],
    )
    corpus = ManifestCorpus(folder / "m.csv", vectors, min_examples=1)
    assert corpus.emotion_names == ("angry", "sad")
    assert corpus.label_columns == ("sentiment", "angry", "sad")
    segments, report = corpus.scan()
    np.testing.assert_allclose([s.labels for s in segments], [[0, 0, 1], [0, 1, 0]])
    assert [(r, why) for r, why, _ in skipped_rows(report)] == [(4, "unknown label")]


def test_iemocap_style_four_classes_keep_the_given_order(folder, vectors):
    emotions = ("neutral", "happy", "sad", "angry")
    write_csv(
        folder / "m.csv",
        ["audio", "text", "emotion", "split"],
        [
            ["wav/a16k.wav", "hello", "angry", "train"],
            ["wav/b44k.wav", "good day", "neutral", "valid"],
            ["wav/a16k.wav", "so", "excited", "test"],
        ],
    )
    corpus = ManifestCorpus(folder / "m.csv", vectors, emotions=emotions)
    assert corpus.emotion_names == emotions
    segments, report = corpus.scan()
    np.testing.assert_allclose([s.labels for s in segments], [[0, 0, 0, 0, 1], [0, 1, 0, 0, 0]])
    assert skipped_rows(report)[0][:2] == (4, "unknown label")


def test_jsonl_intensity_columns(folder, vectors):
    rows = [
        {
            "audio": "wav/a16k.wav",
            "start": 0,
            "end": 0.5,
            "text": "good day",
            "happy": 2.0,
            "sad": 0,
            "anger": 1 / 3,
            "sentiment": 1.5,
            "split": "validation",
            "speaker": "s1",
        },
        None,  # a blank line: skipped, but it still counts for the row numbers
        {"audio": "wav/b44k.wav", "text": "hello", "happy": -1, "sad": 0, "anger": 0, "split": "test"},
        "{not json",
        {"audio": "wav/b44k.wav", "text": "hello", "happy": 0, "sad": "", "anger": 0, "split": "test"},
        {"audio": "wav/b44k.wav", "text": "hello", "happy": 0, "sad": 0, "anger": 0, "split": "train"},
    ]
    lines = ["" if r is None else r if isinstance(r, str) else json.dumps(r) for r in rows]
    (folder / "m.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = ManifestCorpus(folder / "m.jsonl", vectors)
    assert corpus.emotion_names == ("happy", "sad", "anger")  # file order; speaker/sentiment are not emotions
    segments, report = corpus.scan()
    assert [(s.index, s.fold) for s in segments] == [(1, "valid"), (6, "train")]
    np.testing.assert_allclose(segments[0].labels, [1.5, 2.0, 0.0, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(segments[1].labels, [0, 0, 0, 0])
    assert [(r, why) for r, why, _ in skipped_rows(report)] == [
        (3, "unknown label"),
        (4, "malformed row"),
        (5, "unknown label"),
    ]
    assert "happy=-1" in skipped_rows(report)[0][2]


def test_audio_root_and_absolute_paths(folder, vectors, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("manifests")
    write_csv(
        elsewhere / "m.csv",
        ["audio", "text", "happy", "split"],
        [
            ["a16k.wav", "hello", "1", "train"],
            [str(folder / "wav" / "b44k.wav"), "day", "0", "test"],
        ],
    )
    corpus = ManifestCorpus(elsewhere / "m.csv", vectors, audio_root=folder / "wav")
    segments, _ = corpus.scan()
    assert [s.audio_path for s in segments] == [folder / "wav" / "a16k.wav", folder / "wav" / "b44k.wav"]
    assert corpus.root == elsewhere
    assert corpus.input_files() == [
        elsewhere / "m.csv",
        folder / "glove.txt",
        *(s.audio_path for s in segments),
    ]


def test_a_manifest_without_usable_rows_is_an_error(folder, vectors):
    write_csv(
        folder / "bad.csv",
        ["audio", "text", "emotion", "split"],
        [
            ["wav/missing.wav", "hello", "happy", "train"],
            ["wav/a16k.wav", "", "happy", "train"],
        ],
    )
    with pytest.raises(ValueError, match=r"bad\.csv: no usable row.*row 2: missing audio file.*row 3: empty"):
        ManifestCorpus(folder / "bad.csv", vectors, min_examples=1).scan()


def test_manifest_level_errors_name_the_file(folder, vectors):
    write_csv(folder / "m.csv", ["audio", "emotion", "split"], [["wav/a16k.wav", "happy", "train"]])
    with pytest.raises(ValueError, match=r"m\.csv: missing column\(s\) \['text'\]"):
        ManifestCorpus(folder / "m.csv", vectors)
    write_csv(folder / "m.csv", ["audio", "text", "split", "happy"], [["wav/a16k.wav", "hi", "train", "1"]])
    with pytest.raises(ValueError, match=r"m\.csv: no column for emotion\(s\) \['sad'\]"):
        ManifestCorpus(folder / "m.csv", vectors, emotions=["happy", "sad"])
    (folder / "m.xlsx").write_text("")
    with pytest.raises(ValueError, match=r"m\.xlsx: unknown manifest type"):
        ManifestCorpus(folder / "m.xlsx", vectors)
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        ManifestCorpus(folder / "nope.csv", vectors)


def test_fingerprint_follows_manifest_audio_and_vectors(folder, vectors, monkeypatch):
    monkeypatch.setattr(embeddings, "DEFAULT_CACHE_DIR", folder / "default_cache")  # keep ~/.cache clean
    write_csv(
        folder / "m.csv", ["audio", "text", "emotion", "split"], [["wav/a16k.wav", "hello", "x", "train"]]
    )
    corpus = ManifestCorpus(folder / "m.csv", folder / "glove.txt", min_examples=1)  # a path works too
    assert (folder / "default_cache").is_dir()
    assert corpus.word_vectors.info() == {"kind": "glove", "path": str(folder / "glove.txt"), "dim": DIM}
    before = corpus.fingerprint()
    assert ManifestCorpus(folder / "m.csv", vectors, min_examples=1).fingerprint() == before
    sf.write(folder / "wav" / "a16k.wav", np.zeros(8000, dtype=np.float32), 16_000)
    after_audio = corpus.fingerprint()
    assert after_audio != before
    write_csv(
        folder / "m.csv", ["audio", "text", "emotion", "split"], [["wav/a16k.wav", "hello", "x", "test"]]
    )
    assert ManifestCorpus(folder / "m.csv", vectors, min_examples=1).fingerprint() != after_audio


def test_csv_row_numbers_are_file_lines_despite_multiline_fields_and_blank_lines(folder, vectors):
    text = (
        'audio,text,emotion,split\nwav/a16k.wav,"hello\nworld",happy,train\n\nwav/a16k.wav,day,happy,nope\n'
    )
    (folder / "m.csv").write_text(text, encoding="utf-8")
    segments, report = ManifestCorpus(folder / "m.csv", vectors, min_examples=1).scan()
    assert segments[0].index == 2 and segments[0].words == ("hello", "world")
    assert [(r, why) for r, why, _ in skipped_rows(report)] == [(5, "bad split")]
