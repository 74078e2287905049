"""Fault injection on a trained run: a damaged checkpoint is refused by name wherever it is loaded, a run
trained with the cosine schedule can be extended, a run folder whose path is not ASCII resumes, evaluates
and predicts, NaN audio is an error naming the file, a user's mistake on the command line is one line, and a
resume into a folder a live run owns is refused."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from mosei_attn.checkpoints.reading import CheckpointError, load_checkpoint, read_checkpoint
from mosei_attn.checkpoints.resume import resumed_config
from mosei_attn.files import write_json
from mosei_attn.inference import Predictor
from mosei_attn.predict import predict_manifest
from mosei_attn.train import train
from mosei_attn.training.run_owner import OWNER_FILE, this_process
from tests.cli_here import run_here
from tests.conftest import TINY, compose_config
from tests.test_faults_cli import BATCH, REPO

#: Seconds a command line may take: these train, and the test machine may be shared.
TIMEOUT_S = 900

EPOCHS = 2


@pytest.fixture(scope="module")
def cli_run(data_dir, tmp_path_factory):
    """A 2-epoch run with the default cosine schedule, started from the command line in a folder whose path
    holds non-ASCII characters and a space."""
    folder = tmp_path_factory.mktemp("nonascii") / "résumé ü run"
    args = [*TINY, f"paths.data_dir={data_dir}", "test=false", f"trainer.max_epochs={EPOCHS}"]
    with pytest.MonkeyPatch.context() as mp:  # the command line in this process: one start-up less
        proc = run_here("mosei_attn.train", *args, f"hydra.run.dir='{folder}'", monkeypatch=mp)
    assert proc.returncode == 0
    return folder


def cli_env() -> dict[str, str]:
    """This checkout importable, W&B off, Hydra's short errors."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return env | {"WANDB_MODE": "disabled", "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}


def lrs(run_dir) -> list[float]:
    """The learning rate of each epoch, in order (LearningRateMonitor logs it at the start of each epoch, in a
    column named after the optimizer: lr-AdamW, lr-SGD)."""
    with open(run_dir / "metrics.csv") as f:
        rows = csv.DictReader(f)
        (column,) = [c for c in rows.fieldnames or [] if c.startswith("lr-")]
        return [float(r[column]) for r in rows if r.get(column)]


def damaged(src, dst):
    """A copy of checkpoint ``src`` with 8 bytes of one weight tensor changed (the archive still opens)."""
    shutil.copy(src, dst)
    with zipfile.ZipFile(dst) as z:
        info = next(i for i in z.infolist() if "/data/" in i.filename and i.file_size >= 64)
    with open(dst, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), dtype="<u2")
        f.seek(info.header_offset + 30 + int(name_len) + int(extra_len) + 16)
        f.write(b"\x7f" * 8)
    return info.filename


def test_a_damaged_checkpoint_is_refused_by_name_wherever_it_is_loaded(cli_run, data_dir, tmp_path):
    bad = tmp_path / "bad.ckpt"
    member = damaged(cli_run / "checkpoints" / "last.ckpt", bad)
    message = rf"{bad}: damaged checkpoint.*{member}"
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(bad)
    with pytest.raises(CheckpointError, match=message):  # evaluate and predict
        load_checkpoint(bad)
    cfg = compose_config("train", [*TINY, f"paths.data_dir={data_dir}", f"ckpt_path={bad}"], tmp_path / "r")
    with pytest.raises(CheckpointError, match=message):  # resume
        resumed_config(cfg)


def test_a_cosine_run_extends_with_the_schedule_of_its_new_length(cli_run, data_dir, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(cli_run, run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    base = lrs(run_dir)[0]
    # a finished cosine run stops at learning rate 0: "go on from where it is" would train no more
    assert torch.load(last, weights_only=False)["optimizer_states"][0]["param_groups"][0]["lr"] == 0
    overrides = [*TINY, f"paths.data_dir={data_dir}", "test=false"]
    train(compose_config("train", [*overrides, "trainer.max_epochs=4", f"ckpt_path={last}"], run_dir))
    cosine = [base * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs(run_dir)[:2] == pytest.approx([base, base / 2])  # the 2 epochs it had
    assert lrs(run_dir)[2:] == pytest.approx(cosine[2:])  # the new ones: as if planned for 4 epochs
    # resumed again (after a Ctrl-C, or to evaluate) the schedule is the one of 4 epochs, not changed again
    assert torch.load(last, weights_only=False)["lr_schedulers"][0]["T_max"] == 4


def nan_wav(path, value=np.nan):
    x = (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    x[5000:5010] = value
    sf.write(path, x, 16000, subtype="FLOAT")
    return path


def test_nan_audio_is_an_error_naming_the_file_and_a_failed_manifest_row(cli_run, tmp_path):
    predictor = Predictor.from_checkpoint(cli_run / "checkpoints" / "last.ckpt", device="cpu")
    bad = nan_wav(tmp_path / "nan.wav")
    with pytest.raises(ValueError, match=rf"{bad}: 10 NaN or infinite sample"):
        predictor(bad, "hello")
    nan_wav(tmp_path / "inf.wav", np.inf)
    sf.write(tmp_path / "good.wav", (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32), 16000)
    manifest = tmp_path / "clips.csv"
    manifest.write_text("audio,text\nnan.wav,hello\ngood.wav,hello\ninf.wav,hi\n")
    rows = predict_manifest(predictor, manifest, tmp_path / "preds.csv")
    assert [bool(r["error"]) for r in rows] == [True, False, True]
    assert "NaN or infinite" in rows[0]["error"] and rows[0]["predicted"] == ""
    assert all(rows[0][n] == "" for n in predictor.names) and rows[1]["predicted"]


def test_user_mistakes_on_the_command_line_are_one_line(cli_run, tmp_path):
    """Through the entry points: a non-ASCII run folder extends, evaluates and predicts; a damaged
    checkpoint, a bad optimizer value, NaN audio and a resume asking for fewer epochs than the run has trained
    are one line each, no traceback. The run is extended in a copy (still a non-ASCII path): the module's
    other tests read ``cli_run`` as its 2 epochs left it."""
    run = tmp_path / "résumé ü copy"
    shutil.copytree(cli_run, run)
    last = run / "checkpoints" / "last.ckpt"
    damaged(last, tmp_path / "bad.ckpt")
    nan_wav(tmp_path / "nan.wav")
    sf.write(tmp_path / "clip.wav", (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32), 16000)
    commands = {
        "extend": ("mosei_attn.train", [f"ckpt_path={last}", f"trainer.max_epochs={EPOCHS + 1}"]),
        "evaluate": ("mosei_attn.evaluate", [f"ckpt_path={last}", "split=val"]),
        "predict": (
            "mosei_attn.predict",
            [f"ckpt_path={last}", "audio=clip.wav", "text=hi", "output=p.json"],
        ),
        "nan": ("mosei_attn.predict", [f"ckpt_path={last}", "audio=nan.wav", "text=hi", "output=n.json"]),
        "corrupt": ("mosei_attn.evaluate", ["ckpt_path=bad.ckpt", "split=val"]),
        "lr": ("mosei_attn.train", [*TINY, "optimizer.lr=abc", f"paths.log_dir={tmp_path}/logs"]),
        "fewer": ("mosei_attn.train", [f"ckpt_path={last}", "trainer.max_epochs=1"]),  # after "extend"
    }
    cmd = [sys.executable, "-c", BATCH, json.dumps(list(commands.values()))]
    proc = subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    parts = dict(zip(commands, proc.stderr.split("=== mosei_attn.")[1:], strict=True))
    for name in ("extend", "evaluate", "predict"):
        assert "=== exit 0" in parts[name], parts[name][-3000:]
    assert len(lrs(run)) == EPOCHS + 1 and len(lrs(cli_run)) == EPOCHS
    assert (run / "evaluate_val" / "metrics.json").is_file() and (tmp_path / "p.json").is_file()
    expected = {
        "nan": "nan.wav: 10 NaN or infinite sample",
        "corrupt": "bad.ckpt: damaged checkpoint",
        "lr": "optimizer.lr='abc'",
        "fewer": f"trainer.max_epochs=1: {last} has trained {EPOCHS + 1} epochs already",
    }
    for name, text in expected.items():
        lines = [ln for ln in parts[name].splitlines() if ln.startswith("error: ")]
        assert len(lines) == 1 and text in lines[0], parts[name][-3000:]
        assert "Traceback" not in parts[name] and "=== exit 1" in parts[name]


def test_a_checkpoint_of_an_older_network_is_refused_by_name(cli_run, tmp_path):
    """A checkpoint whose dense head was built for flattened features (an attention model whose head read
    each time position apart) gets one error naming the file, the layer and what to do, not a page of
    load_state_dict output."""
    ckpt = torch.load(cli_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    key = "net.head.hidden.0.weight"
    out_f, in_f = ckpt["state_dict"][key].shape
    ckpt["state_dict"][key] = torch.zeros(out_f, in_f * 4)  # as if it read 4 time positions one by one
    old = tmp_path / "old.ckpt"
    torch.save(ckpt, old)
    with pytest.raises(ValueError, match=rf"{old}: its weights do not fit .*{key}.*train it again"):
        load_checkpoint(old)


def test_resume_into_a_folder_a_live_run_owns_is_refused(cli_run, tmp_path, monkeypatch, capfd):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        write_json(run / OWNER_FILE, {**this_process(), "pid": sleeper.pid})
        before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
        ckpt = run / "checkpoints" / "last.ckpt"
        proc = run_here("mosei_attn.train", f"ckpt_path={ckpt}", monkeypatch=monkeypatch, capfd=capfd)
        assert proc.returncode != 0 and f"pid {sleeper.pid} " in proc.stderr and OWNER_FILE in proc.stderr
        assert "another run writes into this run folder" in proc.stderr
        assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before  # nothing written
    finally:
        sleeper.kill()
        sleeper.wait()
        (run / OWNER_FILE).unlink()
