"""Fault injection, manifests: a byte that is not UTF-8 marks its row (the others go on); emotion names are
matched without regard to case, and a name that looks like a typo, or is too rare, is refused with the counts
unless the user lists the emotions."""

from __future__ import annotations

import pytest

from mosei_attn.data.corpora.manifest import ManifestCorpus, read_manifest
from tests.test_manifest import folder, skipped_rows, vectors, write_csv  # noqa: F401  (fixtures)

HEADER = ["audio", "text", "emotion", "split"]


def rows_of(emotions: list[str]) -> list[list[str]]:
    return [["wav/a16k.wav", "hello", e, ("train", "valid", "test")[i % 3]] for i, e in enumerate(emotions)]


def test_a_non_utf8_byte_marks_its_row_and_the_rest_goes_on(folder, vectors):  # noqa: F811
    write_csv(folder / "m.csv", HEADER, rows_of(["happy", "sad", "happy", "sad"]))
    data = (folder / "m.csv").read_bytes().replace(b"hello,sad,valid", b"h\xe9llo,sad,valid", 1)
    (folder / "m.csv").write_bytes(data)
    columns, rows = read_manifest(folder / "m.csv")
    assert columns == HEADER and rows[1] == (3, "not UTF-8 text: byte 0xe9 in column 'text'")
    segments, report = ManifestCorpus(folder / "m.csv", vectors, min_examples=1).scan()
    assert [s.index for s in segments] == [2, 4, 5]
    assert skipped_rows(report) == [(3, "malformed row", "not UTF-8 text: byte 0xe9 in column 'text'")]


def test_a_non_utf8_jsonl_line_and_header(folder, vectors):  # noqa: F811
    good = b'{"audio": "wav/a16k.wav", "text": "hello", "emotion": "happy", "split": "train"}\n'
    (folder / "m.jsonl").write_bytes(good + good.replace(b"hello", b"h\xffllo") + good)
    _, rows = read_manifest(folder / "m.jsonl")
    assert [r for r, _ in rows] == [1, 2, 3] and rows[1][1] == "not UTF-8 text: byte 0xff"
    (folder / "h.csv").write_bytes(b"audio,t\xe9xt,emotion,split\n")
    with pytest.raises(ValueError, match=r"h\.csv, line 1: the header is not UTF-8"):
        read_manifest(folder / "h.csv")


def test_emotion_names_ignore_case(folder, vectors):  # noqa: F811
    write_csv(folder / "m.csv", HEADER, rows_of(["Happy", "happy", " SAD", "sad", "HAPPY", "Sad"]))
    corpus = ManifestCorpus(folder / "m.csv", vectors, min_examples=2)
    assert corpus.emotion_names == ("happy", "sad")
    segments, report = corpus.scan()
    assert [s.labels[1:].argmax() for s in segments] == [0, 0, 1, 1, 0, 1] and not report
    listed = ManifestCorpus(folder / "m.csv", vectors, emotions=["Sad", "HAPPY"])
    assert listed.emotion_names == ("Sad", "HAPPY") and len(listed.scan()[0]) == 6


def test_a_typo_or_a_rare_class_is_refused_with_counts_unless_listed(folder, vectors):  # noqa: F811
    write_csv(folder / "m.csv", HEADER, rows_of(["happy"] * 6 + ["sad"] * 5 + ["hapy"]))
    with pytest.raises(ValueError, match=r"'hapy' \(1 rows\) looks like a typo of 'happy' \(6 rows\)") as e:
        ManifestCorpus(folder / "m.csv", vectors)
    assert "{'happy': 6, 'hapy': 1, 'sad': 5}" in str(e.value) and "data.corpus.emotions" in str(e.value)
    segments, report = ManifestCorpus(folder / "m.csv", vectors, emotions=["happy", "sad"]).scan()
    assert len(segments) == 11 and skipped_rows(report)[0][:2] == (13, "unknown label")

    write_csv(folder / "m.csv", HEADER, rows_of(["happy"] * 6 + ["sad"] * 5 + ["fear"] * 2))
    with pytest.raises(ValueError, match=r"'fear' has 2 row\(s\), fewer than 5"):
        ManifestCorpus(folder / "m.csv", vectors)
    assert (
        ManifestCorpus(folder / "m.csv", vectors, emotions=["happy", "sad", "fear"]).emotion_names[-1]
        == "fear"
    )
