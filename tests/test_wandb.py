"""W&B without a server: W&B's own settings decide online or offline, a run that cannot start online falls
back to offline with one warning, and an offline training run's history, summaries and images read back."""

from __future__ import annotations

import csv
import functools
import logging
import socket
from pathlib import Path

import pytest
import wandb

from mosei_attn.train import train
from mosei_attn.training.loggers import SUMMARIES, start_wandb
from tests.wandb_records import read_when_complete

WARNING = "set WANDB_MODE=offline"


@pytest.fixture
def fresh_wandb(monkeypatch, tmp_path):
    """No W&B settings from this machine: an empty config folder and home, no netrc, no key, no mode; W&B's
    process-wide settings (read once per process) are reset before and after."""
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    (home / "wandb_config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / "wandb_config"))
    monkeypatch.setenv("NETRC", str(home / "no_netrc"))
    monkeypatch.chdir(tmp_path)  # no workspace settings (./wandb/settings) of the checkout
    wandb.finish()
    wandb.teardown()
    yield home / "wandb_config"
    wandb.finish()
    wandb.teardown()


def _start(tmp_path: Path, init_timeout: float = 30, **kwargs):
    from lightning.pytorch.loggers import WandbLogger

    make = functools.partial(WandbLogger, save_dir=str(tmp_path), project="mosei_attn_test")
    return start_wandb(make, {"resume": "allow", **kwargs}, init_timeout)


def _warnings(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and WARNING in r.getMessage()
    ]


@pytest.fixture
def refused_port():
    """A localhost port the OS chose that refuses every connection while the test runs: bound here, never
    listened on, so no other process can take it and start listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_wandb_mode_offline_decides_without_trying(fresh_wandb, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)  # a key no longer means online when W&B is told offline
    with caplog.at_level(logging.WARNING):
        logger = _start(tmp_path)
    assert logger.experiment.offline and not _warnings(caplog)


def test_wandb_offline_settings_file_decides(fresh_wandb, tmp_path, caplog):
    (fresh_wandb / "settings").write_text("[default]\nmode = offline\n")  # what `wandb offline` writes
    with caplog.at_level(logging.WARNING):
        logger = _start(tmp_path)
    assert logger.experiment.offline and not _warnings(caplog)


def test_forced_offline_leaves_the_environment_alone(fresh_wandb, tmp_path, caplog):
    import os

    with caplog.at_level(logging.WARNING):
        logger = _start(tmp_path, mode="offline")  # logger.wandb.offline=true
    assert logger.experiment.offline and not _warnings(caplog)
    assert "WANDB_MODE" not in os.environ  # the next job of a sweep decides afresh


def test_no_login_falls_back_to_offline_with_one_warning(fresh_wandb, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        logger = _start(tmp_path)
    assert logger.experiment.offline
    assert len(_warnings(caplog)) == 1, caplog.text


def test_unreachable_server_falls_back_after_the_init_timeout(
    fresh_wandb, tmp_path, monkeypatch, caplog, refused_port
):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{refused_port}")  # a self-hosted server, down
    with caplog.at_level(logging.WARNING):
        logger = _start(tmp_path, init_timeout=2)
    assert logger.experiment.offline
    # W&B's own warnings (retries) may come and go with the machine's speed: count ours, by its message
    fallbacks = [line for line in _warnings(caplog) if line.startswith("W&B could not start online")]
    assert len(fallbacks) == 1, caplog.text
    assert "\n" not in fallbacks[0]


def test_offline_training_run_reads_back(fresh_wandb, train_cfg, monkeypatch):
    """History per epoch against ``epoch``, define_metric's best ``val/ua``, the best checkpoint's figures
    in the summary, the learning rate, and the figures as images."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    metrics, objects = train(train_cfg("logger=wandb", "trainer.max_epochs=3", "figures=true"))
    wandb.finish()  # what job_scope does when the Hydra job ends: the run file is complete
    out = objects["output_dir"]
    (run_file,) = (out / "wandb").glob("offline-run-*/run-*.wandb")
    run = read_when_complete(run_file)
    with open(out / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/ua")]
    val_ua = {int(r["epoch"]): float(r["val/ua"]) for r in rows}
    logged = {h["epoch"]: h["val/ua"] for h in run["history"] if "val/ua" in h}
    assert logged == pytest.approx(val_ua) and sorted(logged) == [0, 1, 2]
    assert any(k.startswith("lr-") for h in run["history"] for k in h)  # LearningRateMonitor
    assert run["metrics"]["val/*"].step_metric == "epoch"
    for name, how in SUMMARIES.items():
        assert getattr(run["metrics"][name].summary, how), name
    summary = run["summary"]
    assert summary["val/ua"] == {"max": pytest.approx(max(val_ua.values()))}
    for key in ("val/wa", "val/ua", "val/f1_macro"):  # the best checkpoint's, as in metrics.json
        assert summary[f"best/{key}"] == pytest.approx(metrics[key])
    assert summary["best/val/ua"] == pytest.approx(max(val_ua.values()))
    best_epoch = max(val_ua, key=lambda e: (val_ua[e], -e))  # the first maximum
    assert summary["best/epoch"] == best_epoch + 1
    images = {Path(p).name.split("_")[0] for p in run["files"] if p.startswith("media/images/")}
    assert {"curves", "confusion"} <= images, run["files"]


def test_only_rank_zero_chooses_the_run_id(tmp_path, monkeypatch):
    """Every DDP rank continues one W&B run: rank 0 chooses and writes the id, a later rank reads it, and a
    rank > 0 that comes first gets none (it logs nothing to W&B) and writes nothing."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from mosei_attn.training.loggers import wandb_run_id

    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    assert wandb_run_id(tmp_path) == ""
    assert not (tmp_path / "wandb_run_id").exists()
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    chosen = wandb_run_id(tmp_path)
    assert chosen and (tmp_path / "wandb_run_id").read_text().strip() == chosen
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    assert wandb_run_id(tmp_path) == chosen
