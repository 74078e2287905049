"""Fault injection, runs and inputs: last.ckpt holds the latest state, a SLURM requeue keeps the metrics
history, val/ua_best survives a resume, a bad checkpoint path is named and fails early, data=mosei needs its
root, and predict reads only the part of a long recording that the model sees."""

from __future__ import annotations

import csv
import logging
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from mosei_attn.checkpoints.reading import load_checkpoint
from mosei_attn.inference import Predictor
from mosei_attn.models.base import UA_BEST_KEY
from mosei_attn.predict import predict_manifest
from mosei_attn.train import train
from mosei_attn.training.build import build_datamodule
from tests.conftest import TINY, compose_config

EPOCHS = 3


def csv_epochs(run) -> list[str]:
    with open(run / "metrics.csv") as f:
        return [row["epoch"] for row in csv.DictReader(f) if row.get("val/ua")]


def tiny(data_dir, run, *extra):
    # No schedule: these runs are resumed with more epochs at the same learning rate (0: val/ua stalls).
    return compose_config(
        "train", [*TINY, f"paths.data_dir={data_dir}", "test=false", "~scheduler", *extra], run
    )


@pytest.fixture(scope="module")
def stalled(data_dir, tmp_path_factory):
    """A 3-epoch run whose val/ua never improves after epoch 0 (the learning rate is 0)."""
    run = tmp_path_factory.mktemp("stalled") / "run"
    _, objects = train(tiny(data_dir, run, f"trainer.max_epochs={EPOCHS}", "optimizer.lr=0.0"))
    steps = objects["trainer"].global_step
    return {"run": run, "steps": steps}


def copy_run(stalled, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(stalled["run"], run)
    return run


def test_last_checkpoint_holds_the_latest_state_when_val_ua_stalls(stalled):
    run = stalled["run"]
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == EPOCHS - 1 and last["global_step"] == stalled["steps"]
    (best,) = [p for p in (run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert torch.load(best, weights_only=False)["epoch"] == 0  # the monitored one still keeps the best
    assert csv_epochs(run) == ["0", "1", "2"]


def test_resume_continues_after_the_last_epoch(stalled, data_dir, tmp_path):
    run = copy_run(stalled, tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    train(tiny(data_dir, run, f"trainer.max_epochs={EPOCHS + 1}", "optimizer.lr=0.0", f"ckpt_path={last}"))
    assert csv_epochs(run) == ["0", "1", "2", "3"]  # not 0 1 2 1 2 3
    assert torch.load(last, weights_only=False)["global_step"] == stalled["steps"] * (EPOCHS + 1) // EPOCHS


def test_val_ua_best_survives_a_resume(stalled, data_dir, tmp_path):
    run = copy_run(stalled, tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=False)
    ua = ckpt[UA_BEST_KEY]
    assert ua == pytest.approx(
        float(ckpt["callbacks"][next(k for k in ckpt["callbacks"] if "val/ua" in k)]["best_model_score"])
    )
    ckpt[UA_BEST_KEY] = 0.999  # as if an earlier epoch had done better than any to come
    torch.save(ckpt, last)
    metrics, _ = train(
        tiny(data_dir, run, f"trainer.max_epochs={EPOCHS + 1}", "optimizer.lr=0.0", f"ckpt_path={last}")
    )
    assert metrics["val/ua_best"] == pytest.approx(0.999) and metrics["val/ua"] == pytest.approx(ua)


def test_slurm_requeue_keeps_the_metrics_history(stalled, data_dir, tmp_path, monkeypatch):
    run = copy_run(stalled, tmp_path)
    shutil.copy(run / "checkpoints" / "last.ckpt", run / "hpc_ckpt_1.ckpt")  # what a preempted job leaves
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.delenv("SLURM_NTASKS_PER_NODE", raising=False)
    # no ckpt_path: Lightning finds the hpc checkpoint in the run folder by itself
    train(tiny(data_dir, run, f"trainer.max_epochs={EPOCHS + 1}", "optimizer.lr=0.0"))
    assert csv_epochs(run) == ["0", "1", "2", "3"]


def test_a_non_checkpoint_is_named(tmp_path):
    sf.write(tmp_path / "clip.wav", np.zeros(800, np.float32), 8000)
    with pytest.raises(ValueError, match=r"clip\.wav: not a PyTorch checkpoint \(a WAV file\)"):
        load_checkpoint(tmp_path / "clip.wav")
    (tmp_path / "broken.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=r"broken\.ckpt: not a readable PyTorch checkpoint"):
        load_checkpoint(tmp_path / "broken.ckpt")
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt: checkpoint not found"):
        load_checkpoint(tmp_path / "nope.ckpt")


def test_resuming_with_other_settings_is_refused_before_anything_is_written(stalled, data_dir, tmp_path):
    run = copy_run(stalled, tmp_path)
    before = sorted(p.name for p in run.rglob("*"))
    with pytest.raises(
        ValueError,
        match=r"model\.dropout: 0\.1 in the run, 0\.5 now.*optimizer\.lr: 0\.0 in the run, 0\.001 now",
    ):
        train(
            tiny(
                data_dir,
                run,
                "model.dropout=0.5",
                "optimizer.lr=0.001",
                f"ckpt_path={run}/checkpoints/last.ckpt",
            )
        )
    assert sorted(p.name for p in run.rglob("*")) == before


def test_mosei_without_root_says_to_set_it(tmp_path):
    cfg = compose_config("train", ["data=mosei"], tmp_path / "run")
    with pytest.raises(
        ValueError, match=r"data\.root not set: give it on the command line, e\.g\. data\.root="
    ):
        build_datamodule(cfg.data)
    with pytest.raises(ValueError, match=r"data\.root not set"):
        train(cfg)


# predict ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def predictor(stalled, tmp_path_factory):
    cache = tmp_path_factory.mktemp("wv")
    return Predictor.from_checkpoint(
        stalled["run"] / "checkpoints" / "last.ckpt", cache_dir=cache, device="cpu"
    )


def test_predict_reads_only_what_the_model_sees_of_a_long_recording(predictor, tmp_path, monkeypatch, caplog):
    sr, seen = 16_000, predictor.audio.seconds_seen
    rng = np.random.default_rng(0)
    quiet = 0.01 * np.sin(2 * np.pi * 200 * np.arange(int((seen + 0.2) * sr)) / sr)
    loud = 0.9 * rng.standard_normal(30 * sr)  # far louder than the part the model sees
    sf.write(tmp_path / "long.wav", np.concatenate([quiet, loud]).astype(np.float32), sr)
    sf.write(tmp_path / "head.wav", quiet.astype(np.float32), sr)
    frames_read = []
    real_read = sf.SoundFile.read

    def counting_read(self, frames=-1, *a, **k):
        out = real_read(self, frames, *a, **k)
        frames_read.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    with caplog.at_level(logging.WARNING):
        long = predictor(tmp_path / "long.wav", "hello")
    assert max(frames_read) <= int(np.ceil(seen * sr))
    head = predictor(tmp_path / "head.wav", "hello")
    # the dB reference comes from the part the model sees, so the loud rest changes nothing
    torch.testing.assert_close(long.batch["spec"], head.batch["spec"], rtol=0, atol=0)
    assert (
        long.seconds == pytest.approx(30 + seen + 0.2, abs=1e-3) and "the model sees its first" in caplog.text
    )


def test_predict_manifest_row_with_a_non_utf8_byte_fails_alone(predictor, tmp_path):
    sf.write(tmp_path / "a.wav", 0.1 * np.sin(np.arange(16_000) / 5).astype(np.float32), 16_000)
    text = "audio,text\na.wav,hello\na.wav,h\xe9llo\na.wav,good day\n".encode("latin-1")
    (tmp_path / "clips.csv").write_bytes(text)
    out = predict_manifest(predictor, tmp_path / "clips.csv", tmp_path / "preds.csv")
    assert [r["row"] for r in out] == [2, 3, 4]
    assert out[0]["error"] == "" and out[2]["error"] == "" and "not UTF-8 text: byte 0xe9" in out[1]["error"]
    assert out[0]["predicted"] in predictor.names and out[2]["predicted"] in predictor.names  # the others run
    assert out[1]["predicted"] == "" and all(
        out[1][n] == "" for n in predictor.names
    )  # the bad row: no scores
