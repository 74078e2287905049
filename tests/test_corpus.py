"""The MOSEI corpus reader: folds, transcripts, segments, skip reasons, refusals, fingerprint."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter

import numpy as np
import pytest

from mosei_attn.data.corpora.csd import CsdFormatError, write_csd
from mosei_attn.data.corpora.labels import LABEL_COLUMNS
from mosei_attn.data.corpora.mosei import (
    MoseiCorpus,
    select_words,
)
from mosei_attn.data.corpora.mosei_files import load_folds, parse_transcript_line, read_transcript
from mosei_attn.data.corpora.mosei_layout import AUDIO_DIR, LABELS_FILE, VECTORS_FILE, WORDS_FILE
from tests.corpus_helpers import VIDEOS, WORD_DIM, build_corpus, label_row, word_vector


@pytest.fixture
def corpus_dir(tmp_path):
    root = tmp_path / "mosei"
    folds = build_corpus(root)
    return root, folds


# Transcripts ------------------------------------------------------------------------------------------
def test_transcript_line_with_underscores_and_negative_start():
    line = parse_transcript_line("a_b-c___3___-0.25___4.5___so ___ this __ is___it\n")
    assert (line.video, line.clip, line.text) == ("a_b-c", "3", "so ___ this __ is___it")
    assert line.start == pytest.approx(-0.25) and line.end == pytest.approx(4.5)


def test_malformed_transcript_names_file_and_line(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("v___1___0.0___1.0___fine\n\nv___2___oops___2.0___bad start\n")
    with pytest.raises(ValueError, match=r"v\.txt, line 3") as e:
        read_transcript(path)
    assert "oops" in str(e.value)
    path.write_text("v___1___0.0___1.0___fine\nv___2___1.0\n")
    with pytest.raises(ValueError, match=r"line 2"):
        read_transcript(path)


# Folds ------------------------------------------------------------------------------------------------
def test_shipped_standard_folds():
    folds = load_folds()
    assert Counter(folds.values()) == {"train": 2249, "valid": 300, "test": 678}
    assert all(isinstance(v, str) for v in folds)
    assert sum(v.isdigit() for v in folds) == 459 and folds["81406"] == "train"
    assert "-NFrJFQijFE" not in folds  # dropped from train by the SDK in 2019


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        ({"train": ["a", 81406]}, "non-string video id 81406"),
        ({"train": ["a", "b"], "test": ["b"]}, "'b' is in both"),
        ({"training": ["a"]}, "keys among"),
    ],
)
def test_bad_folds_file_is_refused(tmp_path, content, fault):
    path = tmp_path / "folds.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=fault) as e:
        load_folds(path)
    assert str(path) in str(e.value)


# Segments ---------------------------------------------------------------------------------------------
def test_segments_words_vectors_labels_text(corpus_dir):
    root, folds = corpus_dir
    segments, skipped = MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).scan()
    by_id = {s.segment_id: s for s in segments}
    assert sorted(by_id) == ["81406[0]", "vidA[0]", "vidA[1]"]

    first = by_id["vidA[0]"]
    assert first.start == 0.0 and first.end == pytest.approx(2.0)  # -0.5 clamped to 0
    assert first.words == ("hello", "world")  # sp dropped; its vectors too
    np.testing.assert_allclose(first.word_vectors, np.stack([word_vector(1), word_vector(2)]))
    np.testing.assert_allclose(first.labels, label_row(0, 0), atol=1e-6)
    assert first.fold == "train" and first.audio_path == root / AUDIO_DIR / "vidA.wav"
    assert first.text == "hello world"  # matched by times although the label start is negative

    second = by_id["vidA[1]"]
    assert second.words == ("good", "day")  # "good" starts at 2.1 > 2.0 but its midpoint is inside
    np.testing.assert_allclose(second.word_vectors, np.stack([word_vector(4), word_vector(5)]))
    assert second.text == "good __ day ___ fine"

    numeric = by_id["81406[0]"]
    assert numeric.video_id == "81406" and numeric.fold == "valid" and numeric.text is None
    assert numeric.word_vectors.shape == (1, WORD_DIM) and numeric.word_vectors.dtype == np.float32
    assert skipped == {"zero length": 1, "no words": 1, "no audio file": 2, "not in a fold": 1}


def test_skip_report_is_kept_and_logged(corpus_dir, caplog):
    root, folds = corpus_dir
    corpus = MoseiCorpus(root, folds=folds, word_dim=WORD_DIM)
    assert corpus.skipped is None
    with caplog.at_level(logging.INFO, logger="mosei_attn.data.corpora.mosei"):
        kept = sum(1 for _ in corpus.iter_segments())
    assert kept == 3 and corpus.skipped.total() == 5
    assert corpus.skipped.examples["no audio file"] == ["noWav[0]", "noWav[1]"]
    text = caplog.text
    for line in (
        "2 segment(s): no audio file",
        "1 segment(s): no words (e.g. vidA[3])",
        "1 segment(s): zero length (e.g. vidA[2])",
        "1 segment(s): not in a fold (e.g. orphan[0])",
    ):
        assert line in text


def test_words_rules():
    word_iv = np.array([[0.0, 1.0], [1.8, 2.6], [3.0, 3.5]])  # second word straddles 2.0
    starts, ends = np.array([0.0, 2.0]), np.array([2.0, 4.0])
    rows = lambda rule: [r.tolist() for r in select_words(word_iv, starts, ends, rule)]  # noqa: E731
    assert rows("midpoint") == [[0], [1, 2]]
    assert rows("overlap") == [[0, 1], [1, 2]]
    assert rows("inside") == [[0], [2]]


# Refusals ---------------------------------------------------------------------------------------------
def test_missing_csd_names_path_and_expected_contents(corpus_dir):
    root, folds = corpus_dir
    (root / WORDS_FILE).unlink()
    with pytest.raises(FileNotFoundError) as e:
        MoseiCorpus(root, folds=folds)
    missing, expected = str(e.value).split("; it should contain")
    assert str(root / WORDS_FILE) in missing and LABELS_FILE not in missing and VECTORS_FILE not in missing
    assert LABELS_FILE in expected and VECTORS_FILE in expected and "Raw/" in expected


def test_alphabetical_label_order_is_refused(tmp_path):
    root = tmp_path / "mosei"
    alphabetical = ["anger", "disgust", "fear", "happy", "sad", "surprise", "sentiment"]
    folds = build_corpus(root, dimension_names=alphabetical)
    with pytest.raises(ValueError, match="refusing a different order") as e:
        MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).scan()
    assert str(root / LABELS_FILE) in str(e.value)


def test_wrong_label_width_is_refused(corpus_dir):
    root, folds = corpus_dir
    write_csd(
        root / LABELS_FILE,
        "All Labels",
        {"vidA": (np.zeros((1, 6)), np.array([[0.0, 1.0]]))},
        {"dimension names": list(LABEL_COLUMNS)},
    )
    with pytest.raises(CsdFormatError, match="dimension 6, expected 7") as e:
        MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).scan()
    assert str(root / LABELS_FILE) in str(e.value) and "'vidA'" in str(e.value)


@pytest.mark.parametrize(
    ("video", "rows"),
    [("vidA", slice(0, -1)), ("81406", slice(0, 0))],
    ids=["one-row-short", "entry-missing"],
)
def test_disagreeing_word_files_are_refused(corpus_dir, video, rows):
    root, folds = corpus_dir
    vectors = {}
    for vid, spec in VIDEOS.items():
        iv = np.array([(s, e) for _, s, e in spec["words"]])[rows if vid == video else slice(None)]
        if len(iv):
            vectors[vid] = (np.zeros((len(iv), WORD_DIM)), iv)
    write_csd(root / VECTORS_FILE, "glove_vectors", vectors)
    with pytest.raises(ValueError, match=f"disagree for video '{video}'") as e:
        MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).scan()
    assert str(root / WORDS_FILE) in str(e.value) and str(root / VECTORS_FILE) in str(e.value)


def test_unknown_words_rule_is_refused(corpus_dir):
    root, folds = corpus_dir
    with pytest.raises(ValueError, match="unknown words_rule 'nearest'"):
        MoseiCorpus(root, folds=folds, words_rule="nearest")


# Fingerprint ------------------------------------------------------------------------------------------
def test_input_files_and_fingerprint(corpus_dir):
    root, folds = corpus_dir
    corpus = MoseiCorpus(root, folds=folds, word_dim=WORD_DIM)
    rel = {p.relative_to(root).as_posix() if p.is_relative_to(root) else p.name for p in corpus.input_files()}
    assert {
        LABELS_FILE,
        WORDS_FILE,
        VECTORS_FILE,
        folds.name,
        "Raw/Audio/Full/WAV_16000/vidA.wav",
        "Raw/Audio/Full/WAV_16000/orphan.wav",
        "Raw/Transcript/Segmented/Combined/vidA.txt",
    } <= rel
    assert "Raw/Audio/Full/WAV_16000/noWav.wav" not in rel

    before = corpus.fingerprint()
    assert len(before) == 64 and before == MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).fingerprint()
    wav = root / AUDIO_DIR / "vidA.wav"
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    touched = corpus.fingerprint()
    assert touched != before
    folds.write_text(json.dumps({"train": ["vidA", "orphan"], "valid": ["81406"], "test": ["noWav"]}))
    assert MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).fingerprint() != touched
