"""Label rules side by side: ``argmax_2018`` on hand-made rows, the report's counts, and ``prepare`` printing
it for the training fold of the synthetic corpus."""

from __future__ import annotations

import numpy as np
import pytest

from mosei_attn.data.corpora.labels import EMOTIONS, LABEL_RULES, derive_targets
from mosei_attn.prepare import hydra_argv, prepare_cache
from mosei_attn.reporting.label_report import distance_to_paper, format_label_report, label_report
from mosei_attn.reporting.paper import PAPER_CLASS_COUNTS
from tests.conftest import TINY, compose_config

ANGER, HAPPY, DISGUST = EMOTIONS.index("anger"), EMOTIONS.index("happy"), EMOTIONS.index("disgust")


def rows(*emotions: dict[str, float]) -> np.ndarray:
    """Raw label rows (N, 7): sentiment 0, then the given intensities in the file's column order."""
    out = np.zeros((len(emotions), 1 + len(EMOTIONS)), dtype=np.float32)
    for i, e in enumerate(emotions):
        for name, v in e.items():
            out[i, 1 + EMOTIONS.index(name)] = v
    return out


def test_argmax_2018_ranks_the_columns_alphabetically():
    labels = rows(
        {}, {"happy": 1, "anger": 1}, {"happy": 2, "anger": 1}, {"fear": 1, "disgust": 1}, {"sad": 3}
    )
    targets, keep = derive_targets(labels, "argmax_2018")
    assert keep.all()
    assert targets.tolist() == [ANGER, ANGER, HAPPY, DISGUST, EMOTIONS.index("sad")]
    # the file order's argmax sends the all-zero row and the happy/anger tie to happy instead
    assert derive_targets(labels, "argmax")[0].tolist()[:2] == [HAPPY, HAPPY]


def test_report_counts_every_rule_on_the_chosen_fold():
    labels = rows({}, {"happy": 1, "anger": 1}, {"happy": 2}, {"sad": 1}, {"fear": 1})
    folds = np.array(["train", "train", "train", "valid", "train"])
    report = label_report(labels, folds, EMOTIONS, "train")
    assert report["segments"] == 4 and set(report["counts"]) == set(LABEL_RULES)
    by = {rule: dict(zip(EMOTIONS, c, strict=True)) for rule, c in report["counts"].items()}
    assert by["argmax"]["happy"] == 3 and by["argmax"]["anger"] == 0 and by["argmax"]["fear"] == 1
    assert by["argmax_2018"]["anger"] == 2 and by["argmax_2018"]["happy"] == 1
    assert by["plurality"]["happy"] == 1 and sum(by["plurality"].values()) == 2  # tie and zero row dropped
    assert by["majority"] == by["plurality"]  # each kept row has a strict majority
    split = label_report(
        rows({"happy": 2 / 3, "sad": 1 / 3, "anger": 1 / 3}, {"anger": 1, "sad": 1 / 3}),
        np.array(["train", "train"]),
        EMOTIONS,
        "train",
    )["counts"]
    # happy is exactly half of its row: plurality keeps it, majority does not
    assert dict(zip(EMOTIONS, split["plurality"], strict=True)) == {
        **dict.fromkeys(EMOTIONS, 0),
        "happy": 1,
        "anger": 1,
    }
    assert dict(zip(EMOTIONS, split["majority"], strict=True)) == {**dict.fromkeys(EMOTIONS, 0), "anger": 1}
    assert by["multilabel"]["happy"] == 2 and by["multilabel"]["anger"] == 1
    assert sum(by["argmax"].values()) == 4 and label_report(labels, folds, EMOTIONS, None)["segments"] == 5


def test_distance_is_zero_for_the_papers_shares_and_ranks_the_rules():
    paper = np.array([PAPER_CLASS_COUNTS[e] for e in EMOTIONS])
    assert distance_to_paper(paper * 3, EMOTIONS) == pytest.approx(0.0)
    assert distance_to_paper(np.eye(len(EMOTIONS), dtype=np.int64)[HAPPY] * 10, EMOTIONS) == pytest.approx(
        1 - paper[HAPPY] / paper.sum()
    )
    # A corpus like the paper's, except that every anger segment has all-zero intensities: argmax_2018 turns
    # them into anger (the paper's counts again, scaled), argmax into happy; argmax_2018 is the closest rule.
    per_class = paper // 100
    emo = np.repeat(np.eye(len(EMOTIONS), dtype=np.float32), per_class, axis=0)
    emo[emo[:, ANGER] == 1] = 0
    labels = np.hstack([np.zeros((len(emo), 1), np.float32), emo])
    report = label_report(labels, np.array(["train"] * len(labels)), EMOTIONS)
    assert report["counts"]["argmax_2018"] == per_class.tolist()
    assert report["closest"] == ["argmax_2018"] and report["distance"]["argmax_2018"] < 0.01
    assert report["distance"]["argmax"] > 0.2
    assert "closest to the paper (single-label rules): argmax_2018" in format_label_report(report)


def test_prepare_prints_the_report_for_the_training_fold(data_dir, tmp_path, capsys):
    overrides = hydra_argv(
        ["python", "--label-report", *TINY[1:4], f"paths.data_dir={data_dir}", "+debug=tiny_shapes"]
    )
    assert "label_report=true" in overrides
    cfg = compose_config("prepare", overrides[1:], tmp_path / "prepare")
    prepare_cache(cfg)
    out = capsys.readouterr().out
    from mosei_attn.training.build import build_datamodule

    dm = build_datamodule(cfg.data)
    dm.setup()
    cache = dm.dataset("train").cache
    train = cache.labels[cache.fold.astype(str) == "train"]
    assert f"class counts of the train fold ({len(train)} segments)" in out
    table = out[out.index("class counts of the train fold") :].splitlines()
    header = table[1].split()
    for rule in LABEL_RULES:
        counts = np.bincount(derive_targets(train, rule)[0], minlength=6) if rule != "multilabel" else None
        if counts is None:
            counts = derive_targets(train, rule)[0].sum(axis=0).astype(int)
        column = header.index(rule) - 1  # "class" heads the row names
        got = [int(line.split()[1 + 2 * column].replace(",", "")) for line in table[3 : 3 + len(EMOTIONS)]]
        assert got == counts.tolist(), rule
    assert "paper" in header and "closest to the paper (single-label rules):" in out


def test_prepare_leaves_the_report_out_on_synthetic_data_by_default(data_dir, tmp_path, capsys):
    cfg = compose_config(
        "prepare", [*TINY[1:4], f"paths.data_dir={data_dir}", "+debug=tiny_shapes"], tmp_path / "p"
    )
    prepare_cache(cfg)
    assert "under each label rule" not in capsys.readouterr().out
