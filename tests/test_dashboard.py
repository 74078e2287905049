"""Dashboards: the W&B workspace built as objects (no network), and the offline per-epoch curves of a sweep."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mosei_attn import aggregate as agg
from mosei_attn.reporting.sweep_plots import epoch_curves, read_epochs
from tests.conftest import compose_config


def _job(sweep: Path, num: int, model: str, seed: int, curve: list[tuple[float, float]] | None) -> Path:
    """A job folder: overrides, metrics.json, and a Lightning-style metrics.csv (train and val rows)."""
    job = sweep / f"{num}_{model}_seed{seed}"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"model={model}", f"seed={seed}"]))
    final = {"val/wa": 0.5, "val/ua": 0.4, "test/wa": 0.3, "test/ua": 0.2, "model": model}
    (job / "metrics.json").write_text(json.dumps(final))
    if curve is not None:
        with open(job / "metrics.csv", "w", newline="") as f:
            w = csv.DictWriter(f, ["epoch", "step", "train/loss", "val/wa", "val/ua"])
            w.writeheader()
            for epoch, (wa, ua) in enumerate(curve):
                w.writerow({"epoch": epoch, "step": 10 * epoch + 9, "train/loss": 1.0})
                w.writerow({"epoch": epoch, "step": 10 * epoch + 9, "val/wa": wa, "val/ua": ua})
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


def test_workspace_compares_the_models_of_one_sweep():
    pytest.importorskip("wandb_workspaces", reason="optional extra [dashboard] not installed")
    from mosei_attn.dashboard import EPOCH_METRICS, SUMMARY_METRICS, build_workspace

    assert {"val/wa", "val/ua", "test/wa", "test/ua", "val/ua_best"} == set(SUMMARY_METRICS)
    ws = build_workspace("my-team", "mosei_attn", "attention_vs_shallow")
    assert (ws.entity, ws.project) == ("my-team", "mosei_attn")
    assert [g.name for g in ws.runset_settings.groupby] == ["JobType"]  # job type = the model
    assert "attention_vs_shallow" in str(ws.runset_settings.filters) and "Group" in str(
        ws.runset_settings.filters
    )
    bars, lines = (s.panels for s in ws.sections)
    assert [m for p in bars for m in p.metrics] == list(SUMMARY_METRICS)
    assert [y for p in lines for y in p.y] == list(EPOCH_METRICS) and {p.x for p in lines} == {"epoch"}
    for p in [*bars, *lines]:
        assert (p.groupby_aggfunc, p.groupby_rangefunc) == ("mean", "stddev")
    wire = ws._to_model().model_dump_json()  # what save() would send, built without a network
    for m in SUMMARY_METRICS:
        assert m in wire
    assert "jobType" in wire


def test_dashboard_config_builds_without_saving(tmp_path, capsys):
    pytest.importorskip("wandb_workspaces", reason="optional extra [dashboard] not installed")
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
    from mosei_attn.reporting.figures import log_best_summary

    class Run:
        summary: dict = {}

    class WandbLogger:  # the name the loggers are told apart by
        experiment = Run()

    class CSVLogger:
        experiment = None

    metrics = {"val/wa": 0.5, "val/ua": 0.4, "val/confusion": [[1]], "test/wa": 0.3, "val/ua_best": 0.4}
    written = log_best_summary([CSVLogger(), WandbLogger()], metrics)
    assert written == {"val/wa": 0.5, "val/ua": 0.4, "val/ua_best": 0.4}
    assert WandbLogger.experiment.summary == written  # test/* was logged by the test loop itself
