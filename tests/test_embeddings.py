"""GloVe-format word vectors: parsing, lookup, tokenizing, the binary cache and its staleness, bad files."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from mosei_attn.data.features import embeddings
from mosei_attn.data.features.embeddings import WordVectors, parse_text, tokenize

VECS = {"the": [1, 2, 3, 4], "Apple": [0.5, -1, 2e-3, 7], "apple": [9, 9, 9, 9], "cat": [-1.25, 0, 0, 1]}


def glove_lines(vecs: dict[str, list[float]]) -> list[str]:
    return [w + " " + " ".join(repr(float(x)) for x in v) for w, v in vecs.items()]


def write(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def glove(tmp_path):
    return write(tmp_path / "tiny.4d.txt", glove_lines(VECS))


def load(path, tmp_path, **kw) -> WordVectors:
    return WordVectors.load(path, cache_dir=tmp_path / "cache", **kw)


def test_load_plain_file(glove, tmp_path):
    wv = load(glove, tmp_path)
    assert wv.words == list(VECS) and wv.dim == 4 and len(wv) == len(VECS)
    np.testing.assert_allclose(wv.vectors, np.array(list(VECS.values())), rtol=1e-6)
    assert wv.vectors.dtype == np.float32
    assert wv.info() == {"kind": "glove", "path": str(glove), "dim": 4}


def test_header_is_skipped_and_words_may_hold_spaces(tmp_path):
    lines = ["3 4", ". . . 1 2 3 4", "hello 5 6 7 8", "at&t  0 0\t1 1 "]  # odd spacing on the last line
    words, matrix = parse_text(write(tmp_path / "w2v.txt", lines))
    assert words == [". . .", "hello", "at&t"]
    np.testing.assert_allclose(matrix, [[1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 1, 1]])


def test_header_word_count_must_match(tmp_path):
    with pytest.raises(ValueError, match=r"w2v\.txt: header declares 5 words, the file holds 1"):
        parse_text(write(tmp_path / "w2v.txt", ["5 4", "a 1 2 3 4"]))


def test_300d_vectors_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    vecs = {f"w{i}": rng.standard_normal(300).tolist() for i in range(3)}
    wv = load(write(tmp_path / "g300.txt", glove_lines(vecs)), tmp_path, dim=300)
    np.testing.assert_allclose(wv.vectors, np.array(list(vecs.values())), rtol=1e-6)


def test_exact_match_first_then_lowercase_fallback(glove, tmp_path):
    wv = load(glove, tmp_path)
    vecs, unknown = wv.embed(["Apple", "APPLE", "The", "CAT"])
    assert unknown == []
    np.testing.assert_allclose(vecs, [VECS["Apple"], VECS["apple"], VECS["the"], VECS["cat"]], rtol=1e-6)
    assert "apple" in wv and "THE" in wv and "dog" not in wv


def test_unknown_words_are_skipped_counted_and_logged(glove, tmp_path, caplog):
    wv = load(glove, tmp_path)
    vecs, unknown = wv.embed(["the", "qqq", "cat", "qqq", "zz"])
    assert vecs.shape == (2, 4) and unknown == ["qqq", "qqq", "zz"]
    np.testing.assert_allclose(vecs, [VECS["the"], VECS["cat"]], rtol=1e-6)
    with caplog.at_level(logging.INFO, logger="mosei_attn.data.features.embeddings"):
        wv.log_unknown(source="tiny")
    assert "tiny: 3 of 5 words (2 distinct)" in caplog.text and "'qqq' x2" in caplog.text
    assert wv.embed([])[0].shape == (0, 4)


def test_duplicate_words_keep_the_first(tmp_path):
    wv = load(write(tmp_path / "dup.txt", ["a 1 1", "a 2 2"]), tmp_path)
    np.testing.assert_allclose(wv.embed(["a"])[0], [[1, 1]])


def test_tokenize_keeps_case_apostrophes_and_numbers():
    text = "Don\u2019t stop: it's 3.5, or 1,000 (mp3s) -- well_done!"
    assert tokenize(text) == ["Don't", "stop", "it's", "3.5", "or", "1,000", "mp3s", "well", "done"]
    assert tokenize("  ...!? ") == []


def test_binary_cache_is_written_then_reused_without_parsing(glove, tmp_path, monkeypatch):
    first = load(glove, tmp_path)
    written = sorted(p.name for p in (tmp_path / "cache").iterdir())  # no temporary file left behind
    assert len(written) == 3 and all(n.startswith("tiny.4d-") for n in written)
    assert [n.split(".", 2)[-1] for n in written] == ["json", "npy", "vocab.txt"]

    def no_parse(*args, **kwargs):
        raise AssertionError("the text file was parsed again")

    monkeypatch.setattr(embeddings, "parse_text", no_parse)
    again = load(glove, tmp_path)
    assert isinstance(again.vectors, np.memmap)  # memory-mapped, not read into memory
    assert again.words == first.words
    np.testing.assert_array_equal(np.asarray(again.vectors), first.vectors)
    with pytest.raises(ValueError, match=r"tiny\.4d\.txt: vectors are 4-d, expected 300"):
        load(glove, tmp_path, dim=300)


def test_stale_cache_is_rebuilt(glove, tmp_path, monkeypatch):
    load(glove, tmp_path)
    st = glove.stat()
    write(glove, glove_lines({**VECS, "dog": [4, 3, 2, 1]}))
    os.utime(glove, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    calls = []
    monkeypatch.setattr(embeddings, "parse_text", lambda *a, **k: calls.append(1) or parse_text(*a, **k))
    wv = load(glove, tmp_path)
    assert calls == [1] and "dog" in wv
    np.testing.assert_allclose(wv.embed(["dog"])[0], [[4, 3, 2, 1]])
    assert load(glove, tmp_path).words == wv.words and calls == [1]  # the rebuilt cache is used next


def test_broken_cache_is_rebuilt(glove, tmp_path):
    load(glove, tmp_path)
    (npy,) = (tmp_path / "cache").glob("*.npy")
    npy.write_bytes(b"garbage")
    np.testing.assert_allclose(load(glove, tmp_path).vectors[0], VECS["the"])
    (rebuilt,) = (tmp_path / "cache").glob("*.npy")  # rewritten in place of the garbage, not read around it
    np.testing.assert_allclose(np.load(rebuilt)[0], VECS["the"])


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["a 1 2 3", "b 1 2"], r"bad\.txt, line 2: 2 value\(s\) after the word, expected 3"),
        (["a 1 2 3", "b 1 2 3", "c 1 x 3"], r"bad\.txt, line 3: .*not a number"),
        (["a 1 2 3", "b 1 nan 3"], r"bad\.txt, line 2: .*nan or inf"),
        (["", "   "], r"bad\.txt: word vector file is empty"),
        (["12 3"], r"bad\.txt: holds a header but no word vectors"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        load(write(tmp_path / "bad.txt", lines), tmp_path)


def test_wrong_dimension_and_missing_file(glove, tmp_path):
    with pytest.raises(ValueError, match=r"tiny\.4d\.txt, line 1: vectors are 4-d, expected 300"):
        load(glove, tmp_path, dim=300)
    with pytest.raises(FileNotFoundError, match=r"nope\.txt: word vector file not found"):
        load(tmp_path / "nope.txt", tmp_path)
