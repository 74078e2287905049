"""Dashboards: the W&B workspace built as objects (no network), and the offline per-epoch curves of a
sweep."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mosei_attn import aggregate as agg
from mosei_attn.reporting.sweep_plots import (
    CURVE_METRICS,
    LOSS_METRICS,
    epoch_curves,
    plot_learning_curves,
    read_epochs,
    shared_majority_wa,
)
from tests.conftest import compose_config


def _job(sweep: Path, num: int, model: str, seed: int, curve: list[tuple[float, float]] | None) -> Path:
    """A job folder: overrides, metrics.json, and a Lightning-style metrics.csv (train and val rows)."""
    job = sweep / f"{num}_{model}_seed{seed}"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"model={model}", f"seed={seed}"]))
    final = {"val/wa": 0.5, "val/ua": 0.4, "test/wa": 0.3, "test/ua": 0.2, "model": model}
    final |= {"class_counts_train": [6, 2, 2], "label_rule": "argmax"}
    (job / "metrics.json").write_text(json.dumps(final))
    if curve is not None:
        with open(job / "metrics.csv", "w", newline="") as f:
            w = csv.DictWriter(f, ["epoch", "step", "train/loss", "val/loss", "val/wa", "val/ua"])
            w.writeheader()
            for epoch, (wa, ua) in enumerate(curve):
                w.writerow({"epoch": epoch, "step": 10 * epoch + 9, "train/loss": 1.0})
                w.writerow(
                    {"epoch": epoch, "step": 10 * epoch + 9, "val/loss": 1 - ua, "val/wa": wa, "val/ua": ua}
                )
    return job


def test_epoch_curves_are_mean_and_std_over_seeds(tmp_path):
    a1 = _job(tmp_path, 0, "attention", 1, [(0.2, 0.1), (0.4, 0.3), (0.6, 0.5)])
    a2 = _job(tmp_path, 1, "attention", 2, [(0.4, 0.3), (0.6, 0.5)])  # stopped one epoch earlier
    s1 = _job(tmp_path, 2, "shallow", 1, [(0.5, 0.5)])
    assert read_epochs(a1)["val/ua"] == {0: 0.1, 1: 0.3, 2: 0.5}
    curves = epoch_curves({"attention": [a1, a2], "shallow": [s1], "failed": [tmp_path / "none"]})
    assert set(curves) == {"attention", "shallow"}
    wa = curves["attention"]["val/wa"]
    assert wa.epochs.tolist() == [0, 1, 2] and wa.n.tolist() == [2, 2, 1]
    np.testing.assert_allclose(wa.mean, [0.3, 0.5, 0.6])
    np.testing.assert_allclose(wa.std[:2], [np.std([0.2, 0.4], ddof=1)] * 2)
    assert np.isnan(wa.std[2]) and np.isnan(curves["shallow"]["val/ua"].std[0])


def test_sweep_curves_draw_the_mean_over_seeds_and_the_best_epoch(tmp_path):
    a1 = _job(tmp_path, 0, "attention", 1, [(0.2, 0.1), (0.4, 0.5), (0.6, 0.3)])
    a2 = _job(tmp_path, 1, "attention", 2, [(0.4, 0.3), (0.6, 0.5), (0.2, 0.1)])
    s1 = _job(tmp_path, 2, "shallow", 1, [(0.5, 0.6), (0.5, 0.2)])
    curves = epoch_curves({"attention": [a1, a2], "shallow": [s1]}, (*LOSS_METRICS, *CURVE_METRICS))
    majority = shared_majority_wa(json.loads((j / "metrics.json").read_text()) for j in (a1, a2, s1))
    drawn = plot_learning_curves(curves, tmp_path / "curves.png", majority)
    x, y = drawn.lines[("attention", "val/ua")]
    assert x.tolist() == [1, 2, 3] and y == pytest.approx([20, 50, 20])  # percent, mean of the two seeds
    x, y = drawn.lines[("attention", "val/loss")]
    assert y == pytest.approx([0.8, 0.5, 0.8])
    assert drawn.lines[("shallow", "train/loss")][1].tolist() == [1.0, 1.0]
    assert drawn.best_epoch == {"attention": 1, "shallow": 0}
    assert drawn.majority_wa == pytest.approx(0.6)  # from metrics.json's class_counts_train
    assert shared_majority_wa([{"class_counts_train": [1, 1]}, {"class_counts_train": [3, 1]}]) is None


def test_aggregate_draws_the_curves_and_tables_val_and_test(tmp_path):
    sweep = tmp_path / "multirun"
    for num, (model, seed) in enumerate([("attention", 1), ("attention", 2), ("shallow", 1), ("shallow", 2)]):
        _job(sweep, num, model, seed, [(0.2 + 0.1 * seed, 0.1), (0.3, 0.2)])
    result = agg.aggregate([sweep])
    assert result["paths"]["curves"].name == "aggregate_curves.png"
    assert result["paths"]["curves"].stat().st_size > 0
    header = result["paths"]["markdown"].read_text().splitlines()[0]
    cols = [c.strip() for c in header.strip("|").split("|")]
    # the paper's columns sit right after the validation figures, the test figures after them
    assert cols[3:8] == ["val WA %", "val UA %", "val macro F1 %", "paper WA %", "paper UA %"]
    assert cols[8:11] == ["test WA %", "test UA %", "test macro F1 %"]
    row = next(r for r in result["rows"] if r["model"] == "attention")
    assert row["val/wa"][0] == pytest.approx(0.5) and row["test/ua"][0] == pytest.approx(0.2)
    assert np.isnan(row["val/f1_macro"][0])  # not in these metrics.json files: shown as a dash


def test_fast_dev_runs_give_no_curves(tmp_path):
    sweep = tmp_path / "multirun"
    _job(sweep, 0, "shallow", 1, None)
    assert "curves" not in agg.aggregate([sweep])["paths"]


def test_workspace_sets_wa_against_ua_for_the_models_of_one_sweep():
    from mosei_attn.dashboard import BARS, LINES, SCATTERS, build_workspace, model_colours

    ws = build_workspace("my-team", "mosei_attn", "attention_vs_shallow")
    assert (ws.entity, ws.project) == ("my-team", "mosei_attn")
    settings = ws.runset_settings
    assert [g.name for g in settings.groupby] == ["JobType"]  # job type = the model
    assert "attention_vs_shallow" in str(settings.filters) and "Group" in str(settings.filters)
    # one colour per model (W&B draws every run of a group in its colour): the scatter's points by model
    assert set(settings.group_colors) == {"attention", "attention_text", "shallow"}
    assert len(set(settings.group_colors.values())) == 3 and settings.group_colors == model_colours()
    scatters, bars, lines = (s.panels for s in ws.sections)
    # WA on x against UA on y, validation (the best checkpoint's summary) and test
    assert [(p.x, p.y) for p in scatters] == [("best/val/wa", "best/val/ua"), ("test/wa", "test/ua")]
    assert [(x, y) for _, x, y in SCATTERS] == [(p.x, p.y) for p in scatters]
    # WA and UA in one grouped bar panel per split: a pair of bars per model, mean and std over seeds
    assert [p.metrics for p in bars] == [["best/val/wa", "best/val/ua"], ["test/wa", "test/ua"]]
    assert len(bars) == len(BARS)
    assert [p.y for p in lines] == [list(ys) for _, ys in LINES] and {p.x for p in lines} == {"epoch"}
    for p in [*bars, *lines]:
        assert (p.groupby_aggfunc, p.groupby_rangefunc) == ("mean", "stddev")
    wire = ws._to_model().model_dump_json()  # what save() would send, built without a network
    for key in ("summary:best/val/wa", "summary:best/val/ua", "summary:test/wa", "summary:test/ua"):
        assert key in wire  # the scatter reads each run's summary
    assert "jobType" in wire and all(c in wire for c in settings.group_colors.values())


def test_dashboard_config_builds_without_saving(tmp_path, capsys):
    from mosei_attn.dashboard import dashboard

    cfg = compose_config("dashboard", ["entity=me", "group=paper_seeds", "save=false"], tmp_path / "d")
    ws = dashboard(cfg)
    assert ws.project == "mosei_attn" and ws.name == "paper_seeds: WA vs UA by model"
    assert "not saved" in capsys.readouterr().out


def test_missing_extra_says_what_to_install(monkeypatch):
    import sys

    from mosei_attn import dashboard

    monkeypatch.setitem(sys.modules, "wandb_workspaces", None)  # import fails as when not installed
    monkeypatch.delitem(sys.modules, "wandb_workspaces.workspaces", raising=False)
    monkeypatch.delitem(sys.modules, "wandb_workspaces.reports.v2", raising=False)
    with pytest.raises(SystemExit, match=r"pip install -e '\.\[dashboard\]'"):
        dashboard.build_workspace("e", "p", "g")


def test_wandb_summary_gets_the_best_checkpoints_validation_figures():
    """The figures at the best epoch go under best/ (define_metric already summarises val/ua by its max)."""
    from mosei_attn.reporting.figures import log_best_summary

    class Run:
        summary: dict = {}

    class WandbLogger:  # the name the loggers are told apart by
        experiment = Run()

    class CSVLogger:
        experiment = None

    metrics = {"val/wa": 0.5, "val/ua": 0.4, "val/confusion": [[1]], "test/wa": 0.3, "val/ua_best": 0.4}
    written = log_best_summary([CSVLogger(), WandbLogger()], metrics | {"checkpoint_epoch": 6})
    expected = {"best/val/wa": 0.5, "best/val/ua": 0.4, "best/val/ua_best": 0.4, "best/epoch": 7}
    assert written == expected  # the epoch 1-based, as the figures show it
    assert WandbLogger.experiment.summary == written  # test/* was logged by the test loop itself
