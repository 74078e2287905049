"""The corpus fingerprint that names the feature cache: every input a segment depends on changes it, and a
corpus edited on disk gets a NEW cache through the DataModule (not the stale one)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from mosei_attn.data.corpora.manifest import ManifestCorpus
from mosei_attn.data.corpora.mosei import MoseiCorpus
from mosei_attn.data.corpora.mosei_layout import LABELS_FILE, TRANSCRIPT_DIR, WORDS_FILE
from mosei_attn.data.datamodule import MoseiDataModule
from tests.corpus_helpers import WORD_DIM, build_corpus
from tests.test_manifest import WORDS, folder, vector, vectors, write_csv  # noqa: F401 (fixtures)

#: Tiny features: the helper corpus's 16 kHz WAVs at 8 kHz, 16 bins x 32 frames.
AUDIO = {"n_fft": 64, "win_length": 64, "hop_length": 64, "freq_bins": 16, "max_frames": 32}


def edit(path: Path) -> None:
    """Rewrite a file with its own bytes and a later mtime: what an editor leaves behind."""
    data, st = path.read_bytes(), path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def corpus_dir(tmp_path):
    root = tmp_path / "mosei"
    return root, build_corpus(root)


@pytest.mark.parametrize(
    "setting", [{"word_dim": WORD_DIM + 1}, {"words_rule": "overlap"}, {"time_tolerance": 0.02}]
)
def test_each_hashed_reader_setting_changes_the_fingerprint(corpus_dir, setting):
    root, folds = corpus_dir
    plain = {"folds": folds, "word_dim": WORD_DIM}
    assert MoseiCorpus(root, **plain).fingerprint() == MoseiCorpus(root, **plain).fingerprint()
    assert MoseiCorpus(root, **(plain | setting)).fingerprint() != MoseiCorpus(root, **plain).fingerprint()


@pytest.mark.parametrize("verify", ["stat", "content"])
def test_the_cache_key_follows_a_reader_setting_under_either_verify_mode(corpus_dir, tmp_path, verify):
    """``data.verify=content`` hashes the files' bytes on top of the corpus's fingerprint, not instead of it:
    the same files read with another words rule still name another cache."""
    root, folds = corpus_dir
    plain = {"folds": folds, "word_dim": WORD_DIM}
    dm = MoseiDataModule(
        functools.partial(MoseiCorpus, root, **plain), cache_dir=str(tmp_path), verify=verify
    )
    same, other = MoseiCorpus(root, **plain), MoseiCorpus(root, **plain, words_rule="overlap")
    assert dm.fingerprint(same) == dm.fingerprint(MoseiCorpus(root, **plain))
    assert dm.fingerprint(other) != dm.fingerprint(same)


@pytest.mark.parametrize("name", [LABELS_FILE, WORDS_FILE])
def test_an_edited_csd_changes_the_fingerprint(corpus_dir, name):
    root, folds = corpus_dir
    before = MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).fingerprint()
    edit(root / name)
    assert MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).fingerprint() != before


def test_an_added_transcript_changes_the_fingerprint(corpus_dir):
    root, folds = corpus_dir
    transcript = next((root / TRANSCRIPT_DIR).glob("*.txt"))
    text = transcript.read_text()
    transcript.unlink()
    without = MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).fingerprint()
    transcript.write_text(text)
    assert MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).fingerprint() != without


def test_an_edited_corpus_gets_a_new_cache(corpus_dir, tmp_path):
    """End to end: the DataModule builds a cache; after the labels are edited, the next DataModule builds
    another one (its own file) instead of reading the stale rows; unedited, it reuses the first."""
    root, folds = corpus_dir
    corpus = functools.partial(MoseiCorpus, root, folds=folds, word_dim=WORD_DIM)
    text = {"max_words": 8, "dim": WORD_DIM}

    def prepared() -> Path:
        dm = MoseiDataModule(
            corpus, cache_dir=str(tmp_path / "cache"), audio=AUDIO, text=text, feature_workers=1
        )
        dm.prepare_data()
        return dm.cache_path

    first = prepared()
    first_mtime = first.stat().st_mtime_ns
    assert prepared() == first and first.stat().st_mtime_ns == first_mtime  # unedited: reused
    edit(root / LABELS_FILE)
    second = prepared()
    assert second != first and second.is_file() and first.is_file()
    assert sorted(p.name for p in (tmp_path / "cache").glob("*.h5")) == sorted([first.name, second.name])


@pytest.mark.parametrize(
    "change",
    [
        "word vectors",
        {"emotions": ["sad", "happy"]},
        {"split_column": "fold"},
        {"audio_root": "elsewhere"},
    ],
)
def test_each_manifest_input_changes_the_fingerprint(folder, change):  # noqa: F811 (the fixture)
    header = ["audio", "text", "emotion", "split", "fold"]  # "fold": the same split, under another name
    rows = [
        ["wav/a16k.wav", "hello", "happy", "train", "train"],
        ["wav/a16k.wav", "world", "sad", "train", "train"],
    ]
    write_csv(folder / "m.csv", header, rows)
    glove = folder / "glove.txt"
    kw = {"word_vectors": glove, "vectors_cache_dir": folder / "vcache", "min_examples": 1}
    before = ManifestCorpus(folder / "m.csv", **kw).fingerprint()
    assert ManifestCorpus(folder / "m.csv", **kw).fingerprint() == before
    if change == "word vectors":  # one vector changed: another file of word vectors
        lines = glove.read_text().splitlines()
        lines[0] = f"{WORDS[0]} {' '.join(str(v + 0.5) for v in vector(WORDS[0]))}"
        glove.write_text("\n".join(lines) + "\n")
        os.utime(glove, ns=(glove.stat().st_atime_ns, glove.stat().st_mtime_ns + 2_000_000_000))
        change = {}
    elif "audio_root" in change:
        (folder / "elsewhere" / "wav").mkdir(parents=True)
        (folder / "elsewhere" / "wav" / "a16k.wav").write_bytes((folder / "wav" / "a16k.wav").read_bytes())
        change = {"audio_root": folder / "elsewhere"}
    assert ManifestCorpus(folder / "m.csv", **(kw | change)).fingerprint() != before
