"""Fault injection, bad labels: a NaN or negative intensity never becomes a target, all-zero rows under argmax
are counted per split, and an empty split or a class without training examples is said before training."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from mosei_attn.data.corpora.labels import derive_targets
from mosei_attn.data.corpora.mosei import MoseiCorpus
from mosei_attn.data.corpora.mosei_layout import AUDIO_DIR
from mosei_attn.train import train
from tests.conftest import compose_config
from tests.corpus_helpers import WORD_DIM, build_corpus
from tests.test_faults_data import SR, datamodule, tone, videos

NAN = float("nan")


def labelled_corpus(tmp_path, rows: dict[str, list[float]], folds: dict[str, list[str]]):
    """One video per label row (one segment each), 2 s WAVs; the labels csd holds exactly ``rows``."""
    from mosei_attn.data.corpora.csd import ComputationalSequence, write_csd
    from mosei_attn.data.corpora.labels import LABEL_COLUMNS
    from mosei_attn.data.corpora.mosei_layout import LABELS_FILE

    root = tmp_path / "mosei"
    folds_path = build_corpus(root, videos(list(rows)), folds)
    for name in rows:
        sf.write(root / AUDIO_DIR / f"{name}.wav", tone(2.0), SR)
    with ComputationalSequence(root / LABELS_FILE) as seq:
        data = {v: (np.array([rows[v]], np.float32), seq[v][1]) for v in seq}
    write_csd(root / LABELS_FILE, "All Labels", data, {"dimension names": list(LABEL_COLUMNS)})
    return root, folds_path


HAPPY, SAD, ANGER = ([0.0] + [float(i == k) for i in range(6)] for k in range(3))
ZERO = [1.0, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("rule", ["argmax", "plurality", "majority", "multilabel"])
def test_nan_and_negative_intensities_never_become_targets(rule):
    labels = np.array(
        [
            [0, NAN, NAN, NAN, NAN, NAN, NAN],
            [0, 1, NAN, 0, 0, 0, 0],
            [0, -1, 0, 0, 0, 0, 0],
            [-2.5, 0, 0, 1, 0, 0, 0],
        ],
        np.float32,
    )
    targets, keep = derive_targets(labels, rule)
    assert keep.tolist() == [False, False, False, True]  # a negative sentiment is fine
    assert len(targets) == 1 and (targets[0] == 2 if rule != "multilabel" else targets[0][2] == 1)


def test_corpus_skips_nan_and_negative_rows_with_named_reasons(tmp_path):
    rows = {
        "ok": HAPPY,
        "allnan": [0] + [NAN] * 6,
        "onenan": [0, 1, 0, NAN, 0, 0, 0],
        "neg": [0, -1, 0, 0, 0, 0, 0],
    }
    root, folds = labelled_corpus(tmp_path, rows, {"train": list(rows), "valid": [], "test": []})
    segments, report = MoseiCorpus(root, folds=folds, word_dim=WORD_DIM).scan()
    assert [s.video_id for s in segments] == ["ok"]
    assert report["label not a number"] == 2 and report["negative emotion intensity"] == 1
    assert report.examples["negative emotion intensity"] == ["neg[0]"]
    with pytest.raises(ValueError, match=r"Labels\.csd, segment allnan\[0\]: label not a number"):
        MoseiCorpus(root, folds=folds, word_dim=WORD_DIM, strict=True).scan()


def test_all_zero_rows_under_argmax_are_counted_per_split(tmp_path, caplog):
    rows = {"z1": ZERO, "z2": ZERO, "h": HAPPY, "s": SAD, "zv": ZERO, "a": ANGER, "t": HAPPY}
    folds = {"train": ["z1", "z2", "h", "s"], "valid": ["zv", "a"], "test": ["t"]}
    root, folds_path = labelled_corpus(tmp_path, rows, folds)
    dm = datamodule(root, folds_path, tmp_path)
    dm.prepare_data()
    with caplog.at_level(logging.WARNING):
        dm.setup()
    assert dm.label_report["train"]["no emotion (all zero)"] == 2
    assert dm.label_report["val"]["no emotion (all zero)"] == 1
    assert dm.label_report["test"]["no emotion (all zero)"] == 0
    assert (
        "2 train segment(s) have no emotion (all intensities 0): label rule 'argmax' makes them 'happy'"
        in (caplog.text)
    )
    assert "1 val segment(s) have no emotion" in caplog.text
    # the classes nobody trains on are named before training
    assert (
        "no train example of ['anger', 'surprise', 'disgust', 'fear']: the model cannot learn" in caplog.text
    )
    assert (
        "no test example of ['sad', 'anger', 'surprise', 'disgust', 'fear']: their recall is not"
        in caplog.text
    )
    assert dm.meta.class_counts == (3, 1, 0, 0, 0, 0)


def tiny_train_cfg(root, folds, tmp_path, *extra):
    return compose_config(
        "train",
        [
            "data=mosei",
            f"data.root={root}",
            f"data.corpus.folds={folds}",
            "data.name=faults",
            f"data.text.dim={WORD_DIM}",
            "debug=tiny_shapes",
            "data.feature_workers=1",
            "data.batch_size=2",
            "logger=csv",
            "callbacks.progress_bar=null",
            "trainer.accelerator=cpu",
            f"paths.data_dir={tmp_path}",
            *extra,
        ],
        tmp_path / "run",
    )


@pytest.mark.parametrize("empty", ["val", "test"])
def test_an_empty_split_is_refused_before_training(tmp_path, monkeypatch, empty):
    rows = {"a": HAPPY, "b": SAD, "c": HAPPY, "d": SAD}
    folds = {"train": ["a", "b"], "valid": ["c"], "test": ["d"]}
    folds["valid" if empty == "val" else "test"] = []
    root, folds_path = labelled_corpus(tmp_path, rows, folds)
    import lightning as L

    def no_fit(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(L.Trainer, "fit", no_fit)
    with pytest.raises(ValueError, match=rf"no usable segment in split\(s\) '{empty}'.*'{empty}': 0"):
        train(tiny_train_cfg(root, folds_path, tmp_path))


def test_an_empty_test_split_trains_with_test_false(tmp_path):
    rows = {"a": HAPPY, "b": SAD, "c": HAPPY}
    root, folds_path = labelled_corpus(tmp_path, rows, {"train": ["a", "b"], "valid": ["c"], "test": []})
    metrics, objects = train(tiny_train_cfg(root, folds_path, tmp_path, "test=false"))
    assert "val/ua" in metrics and not (objects["output_dir"] / "metrics.json").exists()
