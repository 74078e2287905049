"""The synthetic corpus: real MOSEI layout, valid labels, speech-like audio, emotion cues, determinism,
idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mosei_attn.data.corpora.csd import METADATA_KEYS, ComputationalSequence, words_to_str
from mosei_attn.data.corpora.labels import EMOTIONS, LABEL_COLUMNS
from mosei_attn.data.corpora.mosei import MoseiCorpus
from mosei_attn.data.corpora.mosei_layout import (
    AUDIO_DIR,
    LABELS_FILE,
    TRANSCRIPT_DIR,
    TRANSCRIPT_SEP,
    VECTORS_FILE,
    WORDS_FILE,
)
from mosei_attn.synthetic import content as script
from mosei_attn.synthetic import corpus_files
from mosei_attn.synthetic import writer as syn
from mosei_attn.synthetic.config import SyntheticConfig
from mosei_attn.synthetic.cue_truth import TRUTH_FILE

SMALL = dict(n_videos=6, segments_per_video=(6, 8), seed=0)  # enough anger and sad segments to compare
TINY = dict(n_videos=4, segments_per_video=(2, 3))
FRAME = 512  # analysis frame (32 ms at 16 kHz)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return syn.write_synthetic_corpus(tmp_path_factory.mktemp("syn") / "corpus", **SMALL)


def _labels(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with ComputationalSequence(root / LABELS_FILE, dim=len(LABEL_COLUMNS)) as seq:
        return {v: seq[v] for v in seq}


def _segments_audio(root: Path):
    """(label row (7,), audio of the segment) for every label row of the corpus."""
    for vid, (rows, iv) in _labels(root).items():
        audio, sr = sf.read(root / AUDIO_DIR / f"{vid}.wav")
        for row, (start, end) in zip(rows, iv, strict=True):
            yield row, audio[int(max(start, 0.0) * sr) : int(end * sr)]


def _spectral_flatness(x: np.ndarray) -> float:
    """Mean geometric/arithmetic power-spectrum ratio over the louder frames (1: white, ~0: tonal)."""
    frames = x[: len(x) // FRAME * FRAME].reshape(-1, FRAME)
    frames = frames[np.mean(frames**2, axis=1) > 0.3 * np.mean(frames**2)]
    power = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2 + 1e-20
    return float(np.mean(np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)))


def test_layout(corpus: Path):
    for name in (
        LABELS_FILE,
        WORDS_FILE,
        VECTORS_FILE,
        corpus_files.FOLDS_FILE,
        corpus_files.GLOVE_FILE,
        syn.STAMP_FILE,
    ):
        assert (corpus / name).is_file(), name
    videos = list(_labels(corpus))
    assert len(videos) == SMALL["n_videos"]
    for vid in videos:
        assert (corpus / AUDIO_DIR / f"{vid}.wav").is_file()
        assert (corpus / TRANSCRIPT_DIR / f"{vid}.txt").is_file()
    assert [p.name for p in corpus.parent.iterdir()] == [corpus.name]  # no temporary folder left behind


def test_csds_open_with_roots_dims_metadata(corpus: Path):
    vocab = script.vocabulary(SyntheticConfig(seed=SMALL["seed"]))
    with (
        ComputationalSequence(corpus / LABELS_FILE, dim=7) as labels,
        ComputationalSequence(corpus / WORDS_FILE, dim=1) as words,
        ComputationalSequence(corpus / VECTORS_FILE, dim=300) as vectors,
    ):
        assert (labels.root_name, words.root_name, vectors.root_name) == (
            "All Labels",
            "words",
            "glove_vectors",
        )
        assert labels.metadata["dimension names"] == list(LABEL_COLUMNS)
        for seq in (labels, words, vectors):
            assert set(METADATA_KEYS) <= set(seq.metadata)
        assert set(labels) == set(words) == set(vectors)
        for vid in labels:
            w_feat, w_iv = words[vid]
            v_feat, v_iv = vectors[vid]
            assert w_feat.dtype.kind == "S" and v_feat.dtype == np.float32
            np.testing.assert_array_equal(w_iv, v_iv)
            assert np.all(w_iv[:, 1] > w_iv[:, 0]) and np.all(w_iv[1:, 0] >= w_iv[:-1, 1])  # time order
            tokens = words_to_str(w_feat)
            assert "sp" in tokens
            for tok, vec in zip(tokens, v_feat, strict=True):
                np.testing.assert_array_equal(vec, np.zeros(300) if tok == "sp" else vocab[tok])


def test_labels_are_valid_mosei_intensities(corpus: Path):
    rows = np.concatenate([r for r, _ in _labels(corpus).values()])  # (N, 7)
    thirds = rows * 3
    np.testing.assert_allclose(thirds, np.round(thirds), atol=1e-4)
    assert rows[:, 1:].min() >= 0 and rows[:, 1:].max() <= 3 and np.abs(rows[:, 0]).max() <= 3
    emo = np.sort(rows[:, 1:], axis=1)
    assert np.all(emo[:, -1] > emo[:, -2] + 0.3)  # the dominant emotion is strictly the largest
    assert 0 < np.mean(emo[:, -2] > 0) < 0.6  # sometimes a second, weaker emotion
    happy, sad = rows[rows[:, 1:].argmax(1) == 0, 0], rows[rows[:, 1:].argmax(1) == 1, 0]
    assert happy.mean() > 0 > sad.mean()  # sentiment agrees with the emotion


def test_folds_cover_videos_but_one(corpus: Path):
    folds = json.loads((corpus / corpus_files.FOLDS_FILE).read_text())
    assert set(folds) == {"train", "valid", "test"} and all(folds.values())
    ids = [v for vs in folds.values() for v in vs]
    videos = set(_labels(corpus))
    assert len(ids) == len(set(ids)) and set(ids) < videos and len(videos - set(ids)) == 1
    assert any(v.isdigit() for v in videos) and any(v.startswith("-") for v in videos)
    assert all(len(v) == 11 for v in videos if not v.isdigit())


def test_transcripts_match_label_intervals(corpus: Path):
    lines_with_underscores = 0
    negative_starts = 0
    for vid, (_, iv) in _labels(corpus).items():
        lines = (corpus / TRANSCRIPT_DIR / f"{vid}.txt").read_text().splitlines()
        parsed = [line.split(TRANSCRIPT_SEP, 4) for line in lines]
        assert all(len(p) == 5 and p[0] == vid and p[4] for p in parsed)
        times = sorted((float(p[2]), float(p[3])) for p in parsed)
        np.testing.assert_allclose(times, sorted(map(tuple, iv)), atol=1e-6)
        lines_with_underscores += sum(len(line.split(TRANSCRIPT_SEP)) > 5 for line in lines)
        negative_starts += int((iv[:, 0] < 0).sum())
    assert lines_with_underscores >= 1 and negative_starts >= 1  # the edge cases the reader must handle


def test_reader_reads_every_folded_segment(corpus: Path):
    segments, skipped = MoseiCorpus(corpus, folds=corpus / corpus_files.FOLDS_FILE).scan()
    summary = syn.read_stamp(corpus)["summary"]
    assert len(segments) == sum(n for f, n in summary["segments"].items() if f != "none")
    assert set(skipped) == {"not in a fold"}
    assert all(s.text and len(s.words) >= 2 for s in segments)


def test_audio_is_16k_mono_and_covers_labels(corpus: Path):
    for vid, (_, iv) in _labels(corpus).items():
        info = sf.info(corpus / AUDIO_DIR / f"{vid}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        assert info.duration >= iv[:, 1].max()


def test_audio_is_speech_like_not_noise(corpus: Path):
    noise_flatness = _spectral_flatness(np.random.default_rng(0).standard_normal(16_000))
    assert noise_flatness > 0.4  # the measure itself tells noise apart
    for _, x in _segments_audio(corpus):
        assert _spectral_flatness(x) < 0.1 * noise_flatness
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / 16_000)
        assert power[freqs < 4000].sum() > 0.9 * power.sum()


def test_emotion_words_cluster(corpus: Path):
    glove = {}
    for line in (corpus / corpus_files.GLOVE_FILE).read_text().splitlines():
        word, *values = line.split(" ")
        glove[word] = np.array(values, dtype=np.float32)
    assert all(v.shape == (300,) for v in glove.values())
    unit = {w: v / np.linalg.norm(v) for w, v in glove.items()}
    intra, inter = [], []
    for e in EMOTIONS:
        for f in EMOTIONS:
            sims = [
                unit[a] @ unit[b] for a in script.EMOTION_WORDS[e] for b in script.EMOTION_WORDS[f] if a != b
            ]
            (intra if e == f else inter).append(np.mean(sims))
    assert np.mean(intra) > np.mean(inter) + 0.3
    neutral = np.stack([unit[w] for w in script.NEUTRAL_WORDS])
    assert np.abs(neutral @ neutral.T - np.eye(len(neutral))).mean() < 0.1  # neutral words do not cluster


def test_two_stressed_truth_marks_the_emotion_word_of_the_label_only(corpus: Path):
    truth = json.loads((corpus / TRUTH_FILE).read_text())["videos"]
    labels = _labels(corpus)
    seen = 0
    with ComputationalSequence(corpus / WORDS_FILE, dim=1) as words:
        for vid, entries in truth.items():
            tokens, iv = words_to_str(words[vid][0]), words[vid][1]
            for k, entry in enumerate(entries):
                if entry["mode"] != "two_stressed":
                    continue
                seen += 1
                emotion = EMOTIONS[int(labels[vid][0][k, 1:].argmax())]
                ((begin, end),) = entry["stressed"]  # one span: the rival word is not marked
                (row,) = np.flatnonzero((iv[:, 0] == begin) & (iv[:, 1] == end))
                assert tokens[row] in script.EMOTION_WORDS[emotion]
    assert seen >= 2


def test_prosody_differs_by_class(corpus: Path):
    level = {e: [] for e in EMOTIONS}
    for row, x in _segments_audio(corpus):
        level[EMOTIONS[int(row[1:].argmax())]].append(10 * np.log10(np.mean(x**2)))
    assert len(level["anger"]) >= 3 and len(level["sad"]) >= 3
    assert np.mean(level["anger"]) > np.mean(level["sad"]) + 2.0  # dB: anger loud, sadness quiet


def test_same_seed_same_files_other_seed_differs(tmp_path: Path):
    a, b, c = (
        syn.write_synthetic_corpus(tmp_path / n, seed=s, **TINY) for n, s in (("a", 3), ("b", 3), ("c", 4))
    )
    for name in (LABELS_FILE, WORDS_FILE, VECTORS_FILE):
        with ComputationalSequence(a / name) as x, ComputationalSequence(b / name) as y:
            assert list(x) == list(y) and x.metadata == y.metadata
            for vid in x:
                for u, v in zip(x[vid], y[vid], strict=True):
                    np.testing.assert_array_equal(u, v)
    files = sorted(p.relative_to(a) for p in (a / "Raw").rglob("*") if p.is_file())
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    for name in (corpus_files.FOLDS_FILE, corpus_files.GLOVE_FILE, TRUTH_FILE):
        assert (a / name).read_text() == (b / name).read_text()
    assert sorted(_labels(a)) != sorted(_labels(c))
    # another seed, another corpus in the same language: the same vector for every word
    assert (a / corpus_files.GLOVE_FILE).read_text() == (c / corpus_files.GLOVE_FILE).read_text()
    with ComputationalSequence(a / WORDS_FILE) as wa, ComputationalSequence(c / WORDS_FILE) as wc:
        with ComputationalSequence(a / VECTORS_FILE) as va, ComputationalSequence(c / VECTORS_FILE) as vc:
            vector_of: dict[str, np.ndarray] = {}
            for ws, vs in ((wa, va), (wc, vc)):
                for vid in ws:
                    for tok, vec in zip(words_to_str(ws[vid][0]), vs[vid][0], strict=True):
                        np.testing.assert_array_equal(vector_of.setdefault(tok, vec), vec)


def test_word_vectors_depend_on_the_vocabulary_seed_not_the_corpus_seed():
    base = script.vocabulary(SyntheticConfig(seed=0))
    for cfg in (SyntheticConfig(seed=7), SyntheticConfig(seed=7, n_videos=60)):
        other = script.vocabulary(cfg)
        assert list(other) == list(base)
        assert all(np.array_equal(other[w], base[w]) for w in base)
    changed = script.vocabulary(SyntheticConfig(vocabulary_seed=1))
    assert not any(np.array_equal(changed[w], base[w]) for w in base)


def test_idempotent_and_refuses_other_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    root = syn.write_synthetic_corpus(tmp_path / "c", **TINY)

    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated a complete corpus")

    monkeypatch.setattr(syn, "generate", must_not_run)
    assert syn.write_synthetic_corpus(root, **TINY) == root
    syn.main([str(root), "--videos", "4", "--segments", "2", "3"])  # the CLI path, same parameters
    assert "train" in capsys.readouterr().out
    with pytest.raises(FileExistsError, match="overwrite=True"):
        syn.write_synthetic_corpus(root, n_videos=5, segments_per_video=(2, 3))
    monkeypatch.undo()
    syn.write_synthetic_corpus(root, n_videos=5, segments_per_video=(2, 3), overwrite=True)
    assert syn.read_stamp(root)["config"]["n_videos"] == 5 and len(_labels(root)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_refuses_foreign_folder_and_bad_parameters(tmp_path: Path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a synthetic corpus"):
        syn.write_synthetic_corpus(foreign, overwrite=True, **TINY)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="fold_fractions"):
        SyntheticConfig(fold_fractions=(0.5, 0.1, 0.1))
    with pytest.raises(TypeError, match="n_vidoes"):
        syn.write_synthetic_corpus(tmp_path / "x", n_vidoes=3)


def test_parallel_rendering_writes_the_same_files(tmp_path: Path):
    """Videos rendered by 2 processes give byte-identical files to one process (each has its own stream)."""
    params = dict(n_videos=9, segments_per_video=(2, 3), seed=4)
    a = syn.write_synthetic_corpus(tmp_path / "serial", workers=1, **params)
    b = syn.write_synthetic_corpus(tmp_path / "parallel", workers=2, **params)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != syn.STAMP_FILE)
    assert len(files) > 9 * 2
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
