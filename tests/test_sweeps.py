"""Sweeps: a two-seed Hydra multirun on tiny data and the aggregated table made from it, an Optuna search of
two trials, the aggregator on hand-made job folders, W&B grouping, and the missing-extra message."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra.core.hydra_config import HydraConfig

from mosei_attn import aggregate as agg
from mosei_attn.reporting.paper import PAPER_RESULTS
from mosei_attn.training.launch import importable, launch_argv
from mosei_attn.training.loggers import build_loggers
from tests.cli_here import run_here
from tests.conftest import TINY, compose_config

REPO = Path(__file__).resolve().parent.parent
#: One batch per stage: a run still writes its whole folder (metrics.json, checkpoints off), in seconds.
FAST = ["++trainer.fast_dev_run=true"]
METRICS = agg.DEFAULT_METRICS  # the best checkpoint on val and test
TIMEOUT_S = 300


def run_module(module: str, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repository root (or ``python -c code args``), W&B off."""
    env = os.environ | {"WANDB_MODE": "disabled", "MPLBACKEND": "Agg", "HYDRA_FULL_ERROR": "1"}
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def multirun(log_dir: Path, data_dir: Path, *args: str) -> Path:
    """Run a sweep through the command line, in this process (Hydra's basic launcher runs its jobs one after
    the other in the process that launched them), and return its multirun folder (the only one under
    ``log_dir``)."""
    with pytest.MonkeyPatch.context() as mp:
        given = [*args, *TINY, *FAST, f"paths.data_dir={data_dir}", f"paths.log_dir={log_dir}"]
        proc = run_here("mosei_attn.train", *given, monkeypatch=mp)
    assert proc.returncode == 0
    (sweep,) = (log_dir / "multirun").iterdir()
    return sweep


def job_dirs(sweep: Path) -> list[Path]:
    return sorted(p.parent.parent for p in sweep.rglob(".hydra/overrides.yaml"))


@pytest.fixture(scope="module")
def two_seeds(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return multirun(tmp_path_factory.mktemp("logs"), data_dir, "-m", "seed=1,2", "model=shallow")


def test_two_seed_multirun_writes_one_folder_per_run(two_seeds):
    jobs = job_dirs(two_seeds)
    assert [j.name for j in jobs] == ["0_shallow_seed1", "1_shallow_seed2"]
    assert all(j.parent == two_seeds for j in jobs)  # no overrides with slashes nesting folders
    seeds = [yaml.safe_load((j / ".hydra" / "overrides.yaml").read_text())[0] for j in jobs]
    assert seeds == ["seed=1", "seed=2"]
    for j in jobs:
        assert json.loads((j / "metrics.json").read_text())["model"] == "shallow"


def test_aggregate_table_matches_the_runs(two_seeds, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(two_seeds, sweep)
    failed = sweep / "2_shallow_seed3"  # a job that died before writing metrics.json
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "overrides.yaml").write_text(
        (sweep / "0_shallow_seed1/.hydra/overrides.yaml").read_text().replace("seed=1", "seed=3")
    )
    result = agg.aggregate([sweep])
    saved = [json.loads((j / "metrics.json").read_text()) for j in job_dirs(two_seeds)]
    (row,) = result["rows"]
    assert row["n"] == 2 and row["missing"] == 1 and row["model"] == "shallow"
    for m in METRICS:
        values = [s[m] for s in saved if m in s]
        if m == "test/text_guidance":  # the shallow model has no attention: nothing to move, a blank cell
            assert values == [] and np.isnan(row[m][0]) and row[m][2] == 0
            continue
        assert len(values) == 2, m
        assert row[m][0] == pytest.approx(np.mean(values), abs=1e-9)
        assert row[m][1] == pytest.approx(np.std(values, ddof=1), abs=1e-9)
    assert row["paper_ua"] == PAPER_RESULTS["shallow"]["ua"]
    assert [r.folder for r in result["missing"]] == [failed]
    with open(result["paths"]["csv"]) as f:
        (line,) = list(csv.DictReader(f))
    assert float(line["test/ua_mean"]) == pytest.approx(row["test/ua"][0]) and line["seeds"] == "1 2"
    markdown = result["paths"]["markdown"].read_text()
    assert "±" in markdown and "2_shallow_seed3" in markdown and "missing" in markdown
    assert result["paths"]["png"].is_file()  # what its bars show: tests/test_figure_data.py


def _job(sweep: Path, num: int, overrides: list[str], metrics: dict | None) -> None:
    job = sweep / f"{num}_job"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))


def test_aggregate_groups_by_overrides_without_the_seed(tmp_path):
    sweep = tmp_path / "multirun"
    runs = [("0.001", 1, 0.5), ("0.001", 2, 0.7), ("0.001", 3, 0.9), ("0.0001", 1, 0.2), ("0.0001", 2, 0.4)]
    for num, (lr, seed, ua) in enumerate(runs):
        overrides = [f"optimizer.lr={lr}", f"seed={seed}", f"paths.data_dir=/data/{num}", "model=shallow"]
        _job(sweep, num, overrides, {"model": "shallow", "test/wa": ua, "test/ua": ua, "test/f1_macro": ua})
    _job(sweep, 10, ["optimizer.lr=0.0001", "seed=3", "model=shallow"], None)  # job 10 sorts after job 9
    rows, shared = agg.summarise(agg.find_runs(sweep))
    assert [r["config"] for r in rows] == ["optimizer.lr=0.001", "optimizer.lr=0.0001"]
    assert shared == ["model=shallow"]
    assert [(r["n"], r["missing"]) for r in rows] == [(3, 0), (2, 1)]
    assert rows[0]["test/ua"][0] == pytest.approx(0.7) and rows[0]["test/ua"][1] == pytest.approx(0.2)
    assert (
        rows[1]["test/ua"][0] == pytest.approx(0.3) and rows[1]["paper_wa"] == PAPER_RESULTS["shallow"]["wa"]
    )


def test_aggregate_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        agg.find_runs(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no job folders"):
        agg.find_runs(tmp_path)


def test_optuna_search_of_two_trials(data_dir, tmp_path):
    if not importable("hydra_plugins.hydra_optuna_sweeper"):
        pytest.skip("optional extra [optuna] not installed: pip install -e '.[optuna]'")
    sweep = multirun(
        tmp_path,
        data_dir,
        "hparams_search=mosei_optuna",
        "model=shallow",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=1",
    )
    jobs = job_dirs(sweep)
    assert len(jobs) == 2
    found = [json.loads((j / "metrics.json").read_text())["val/ua_best"] for j in jobs]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(found))
    assert set(best["best_params"]) == {"optimizer.lr", "model.dropout", "model.kernels"}
    assert 1e-4 <= best["best_params"]["optimizer.lr"] <= 3e-3


def test_missing_extra_says_which_to_install(monkeypatch):
    monkeypatch.setattr("mosei_attn.training.launch.importable", lambda module: False)
    with pytest.raises(SystemExit, match=r"\[optuna\].*pip install"):
        launch_argv(["train", "hparams_search=mosei_optuna"])
    with pytest.raises(SystemExit, match=r"\[slurm\]"):
        launch_argv(["train", "-m", "hydra/launcher=slurm", "seed=1,2"])
    assert launch_argv(["train", "hparams_search=null"], environ={}) == ["train", "hparams_search=null"]


@pytest.mark.slow  # a fresh interpreter importing torch and Lightning: ~8 s on two shared cores
def test_missing_extra_stops_the_command_before_hydra():
    # The plugin made unimportable in a fresh interpreter, then `python -m mosei_attn.train` as usual.
    code = (
        "import runpy, sys; sys.modules['hydra_plugins.hydra_submitit_launcher'] = None; "
        "sys.argv[0] = 'mosei_attn.train'; runpy.run_module('mosei_attn.train', run_name='__main__')"
    )
    proc = run_module("", "-m", "hydra/launcher=slurm", "seed=1,2", code=code)
    assert proc.returncode != 0
    assert "pip install -e '.[slurm]'" in proc.stderr


def test_wandb_runs_are_grouped_by_sweep_and_tagged(train_cfg, monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    for extra, group in [
        (["sweep_name=lr_grid"], "lr_grid"),
        (
            ["hydra.mode=MULTIRUN", f"hydra.sweep.dir={tmp_path}/multirun/2030-01-01_00-00-00"],
            "2030-01-01_00-00-00",
        ),
    ]:
        cfg = train_cfg("logger=wandb", "seed=7", *extra, output_dir=tmp_path / group)
        (wandb,) = [lg for lg in build_loggers(cfg) if type(lg).__name__ == "WandbLogger"]
        init = wandb._wandb_init
        assert init["group"] == group and init["job_type"] == "attention"
        assert {"attention", "seed=7"} <= set(init["tags"])
        assert "seed=7" in init["config"]["overrides"] and init["config"]["seed"] == 7
        assert init["id"] == (tmp_path / group / "wandb_run_id").read_text().strip()


@pytest.mark.parametrize("path", sorted((REPO / "sweeps").glob("wandb_*.yaml")), ids=lambda p: p.name)
def test_wandb_sweep_proposal_builds_the_model_it_names(path, tmp_path, monkeypatch):
    """A W&B agent's first proposal, as the command it runs, builds the model and optimizer it proposes."""
    import torch

    from mosei_attn.training.build import build_model
    from tests.test_configs import tiny_meta

    sweep = yaml.safe_load(path.read_text())
    assert sweep["metric"] == {"name": "val/ua_best", "goal": "maximize"}  # what metrics.json and main return
    # A W&B agent's first proposal, rendered as its ${args_no_hyphens} macro does: `name=value` per parameter.
    sample = {k: p["values"][0] if "values" in p else p["min"] for k, p in sweep["parameters"].items()}
    cmd = sweep["command"]
    assert cmd[:4] == ["${env}", "python", "-m", "mosei_attn.train"]
    at = cmd.index("${args_no_hyphens}")
    overrides = ["debug=tiny_shapes", *cmd[4:at], *(f"{k}={v}" for k, v in sample.items()), *cmd[at + 1 :]]
    monkeypatch.setenv("WANDB_SWEEP_ID", "sw33p")  # set by `wandb agent` for every run it starts
    monkeypatch.setenv("WANDB_RUN_ID", "run1")
    cfg = compose_config("train", overrides, tmp_path / "run")
    assert HydraConfig.get().run.dir.endswith("/sweeps/sw33p/run1")  # one folder per W&B run, no collisions
    assert cfg.logger.wandb.group == cfg.sweep_name and cfg.sweep_name
    model = build_model(cfg, tiny_meta(cfg))
    built = model.configure_optimizers()
    opt = built["optimizer"] if isinstance(built, dict) else built
    read = {  # how the built objects hold each proposed value
        "model": lambda: type(model).__name__.removesuffix("Module").lower(),
        "optimizer.lr": lambda: opt.param_groups[0]["lr"],
        "model.dropout": lambda: {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)},
        "model.kernels": lambda: model.net.speech.convs[0].out_channels,
        "seed": lambda: cfg.seed,  # what the run seeds everything with
    }
    for key, value in sample.items():
        assert key in read, f"{path.name} proposes {key}: say here how the built run holds it"
        got = read[key]()
        if key == "model.dropout":
            assert got == {value}, key  # every dropout layer
        else:
            assert got == (pytest.approx(value) if isinstance(value, float) else value), key


def test_optuna_and_wandb_searches_share_one_space():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    optuna = yaml.safe_load((REPO / "conf/hparams_search/mosei_optuna.yaml").read_text())
    assert (
        optuna["optimized_metric"] == "val/ua_best" and optuna["hydra"]["sweeper"]["direction"] == "maximize"
    )
    parser = OverridesParser.create()
    space = {
        k: parser.parse_override(f"{k}={v}").value() for k, v in optuna["hydra"]["sweeper"]["params"].items()
    }
    wandb = yaml.safe_load((REPO / "sweeps/wandb_search.yaml").read_text())["parameters"]
    assert set(space) == set(wandb)
    lr = space["optimizer.lr"]  # an IntervalSweep
    assert (lr.start, lr.end, lr.tags) == (
        wandb["optimizer.lr"]["min"],
        wandb["optimizer.lr"]["max"],
        {"log"},
    )
    for key in ("model.dropout", "model.kernels"):
        assert list(space[key].list) == wandb[key]["values"]  # a ChoiceSweep
