"""Fault injection on the command line: a resumed run keeps the settings it was trained with and refuses
overrides that would change them, a bad ckpt_path fails before anything is written, and a mistyped config
group gets Hydra's short message with the options."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from mosei_attn.training.callbacks import CONFIG_KEY
from mosei_attn.training.resume import config_conflicts, merge_overrides, resume_argv
from tests.conftest import TINY

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300


def run(module: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m module args`` in ``cwd`` with this checkout importable, W&B off, Hydra's short errors."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env |= {"WANDB_MODE": "disabled", "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def cli_run(data_dir, tmp_path_factory) -> Path:
    """A 1-epoch run started from the command line with non-default model and optimizer settings."""
    folder = tmp_path_factory.mktemp("cli") / "run"
    # No schedule: the resume below trains on for one more epoch at the same learning rate.
    args = [
        *TINY,
        f"paths.data_dir={data_dir}",
        "test=false",
        "model.dropout=0.5",
        "optimizer.lr=0.01",
        "~scheduler",
    ]
    proc = run("mosei_attn.train", *args, f"hydra.run.dir={folder}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder


def test_resume_with_only_ckpt_path_restores_the_run_settings(cli_run):
    last = cli_run / "checkpoints" / "last.ckpt"
    proc = run("mosei_attn.train", f"ckpt_path={last}", "trainer.max_epochs=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming {cli_run} with its settings" in proc.stderr
    overrides = yaml.safe_load((cli_run / ".hydra" / "overrides.yaml").read_text())
    assert {"model.dropout=0.5", "optimizer.lr=0.01", "trainer.max_epochs=2", f"ckpt_path={last}"} <= set(
        overrides
    )
    ckpt = torch.load(last, weights_only=False)
    assert ckpt["epoch"] == 1 and ckpt["hyper_parameters"]["dropout"] == 0.5
    assert ckpt["hyper_parameters"]["optimizer"]["lr"] == 0.01 and ckpt[CONFIG_KEY]["model"]["dropout"] == 0.5


def test_merge_keeps_the_run_settings_and_takes_resumable_ones(cli_run):
    merged, conflicts = merge_overrides(cli_run, ["trainer.max_epochs=5", "optimizer.lr=1e-2", "seed=42"])
    assert conflicts == [] and "trainer.max_epochs=5" in merged and "optimizer.lr=0.01" in merged
    _, conflicts = merge_overrides(cli_run, ["seed=7", "data/audio=paper"])
    assert conflicts == ["seed=7 (the run has seed=42)", "data/audio=paper (the run has data/audio=demo)"]
    assert resume_argv(["train", "seed=1"]) == ["train", "seed=1"]  # no resume: unchanged


def test_a_setting_newer_than_the_run_resumes_when_set_to_null(cli_run, tmp_path):
    """A run recorded before a setting existed (here weight_average) had none: ``weight_average=null`` restates
    that, is kept in the resumed command line (today's default would differ) and passes both checks."""
    old = tmp_path / "old_run"
    shutil.copytree(cli_run / ".hydra", old / ".hydra")
    config = yaml.safe_load((old / ".hydra" / "config.yaml").read_text())
    default = config.pop("weight_average")
    (old / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    merged, conflicts = merge_overrides(old, ["weight_average=null"])
    assert conflicts == [] and "weight_average=null" in merged
    _, conflicts = merge_overrides(old, ["weight_average.decay=0.9"])
    assert conflicts == ["weight_average.decay=0.9 (the run has weight_average.decay=None)"]
    assert config_conflicts({**config, "weight_average": None}, config) == []
    assert config_conflicts({**config, "weight_average": default}, config) == [
        f"weight_average: None -> {default!r}"
    ]


def test_config_check_allows_where_and_how_long_but_not_what_is_trained():
    run = {"seed": 1, "model": {"dropout": 0.1}, "trainer": {"max_epochs": 2},
           "data": {"root": "/a", "corpus": {"root": "/a", "word_dim": 300}, "label_rule": "argmax"}}  # fmt: skip
    moved = {**run, "trainer": {"max_epochs": 9}, "data": {**run["data"], "root": "/b",
             "corpus": {"root": "/b", "word_dim": 300}}}  # fmt: skip
    assert config_conflicts(moved, run) == []
    other = {**moved, "model": {"dropout": 0.5}, "data": {**moved["data"], "label_rule": "plurality"}}
    assert config_conflicts(other, run) == [
        "data.label_rule: 'argmax' -> 'plurality'",
        "model.dropout: 0.1 -> 0.5",
    ]


#: Runs several entry points in one interpreter (one start-up, ~15 s on shared cores, instead of one each);
#: each command's stderr follows a "=== <module>" line and ends with "=== exit <code>".
BATCH = """
import json, runpy, sys
for module, args in json.loads(sys.argv[1]):
    sys.argv = [module, *args]
    print("=== " + module, file=sys.stderr, flush=True)
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
    print("=== exit %r" % (code,), file=sys.stderr, flush=True)
"""


@pytest.fixture(scope="module")
def refused(cli_run, tmp_path_factory) -> dict:
    """Commands that must fail on their arguments, run in an empty working folder; their stderr and exit codes,
    and the files of the working folder and of the run folder before and after."""
    import json

    cwd = tmp_path_factory.mktemp("cwd")
    sf.write(cwd / "clip.wav", np.zeros(800, np.float32), 8000)
    last = cli_run / "checkpoints" / "last.ckpt"
    commands = {
        "typo": ("mosei_attn.train", ["ckpt_path=runs/typo/last.ckpt"]),
        "wav": ("mosei_attn.evaluate", ["ckpt_path=clip.wav", f"paths.log_dir={cwd}/logs"]),
        "predict": ("mosei_attn.predict", ["ckpt_path=nope.ckpt", "audio=clip.wav", "text=hi"]),
        "no_audio": ("mosei_attn.predict", [f"ckpt_path={last}", "audio=missing.wav", "text=hi"]),
        "conflict": (
            "mosei_attn.train",
            [f"ckpt_path={last}", "model=shallow", "model.dropout=0.2", "weight_average=null"],
        ),
        "group": ("mosei_attn.train", ["model=atention"]),  # last: it goes through Hydra
    }
    snapshot = {p: (cli_run / p).read_bytes() for p in listing(cli_run) if (cli_run / p).is_file()}
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env |= {"WANDB_MODE": "disabled", "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", BATCH, json.dumps(list(commands.values()))]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    parts = proc.stderr.split("=== mosei_attn.")[1:]
    assert len(parts) == len(commands), proc.stderr[-3000:]
    out = {name: part for name, part in zip(commands, parts, strict=True)}
    after = {p: (cli_run / p).read_bytes() for p in listing(cli_run) if (cli_run / p).is_file()}
    return {"err": out, "cwd": listing(cwd), "run_unchanged": after == snapshot}


def failed(part: str) -> bool:
    return "=== exit 0" not in part and "Traceback" not in part


def test_a_bad_ckpt_path_fails_before_anything_is_written(refused):
    err = refused["err"]
    assert failed(err["typo"]) and "ckpt_path=runs/typo/last.ckpt: no such file" in err["typo"]
    assert failed(err["wav"]) and "ckpt_path=clip.wav: not a PyTorch checkpoint (a WAV file)" in err["wav"]
    assert failed(err["predict"]) and "ckpt_path=nope.ckpt: no such file" in err["predict"]
    assert failed(err["no_audio"]) and "audio=missing.wav: no such file" in err["no_audio"]
    assert refused["cwd"] == ["clip.wav"]  # no .hydra/, train.log, tensorboard/ or empty output folders


def test_resume_refuses_overrides_that_change_the_run_and_writes_nothing(refused):
    err = refused["err"]["conflict"]
    assert failed(err) and "Nothing was written" in err
    assert "model=shallow (the run has model=attention)" in err
    assert "model.dropout=0.2 (the run has model.dropout=0.5)" in err
    # the weight average decides which weights are checkpointed: a resumed run keeps it
    assert "weight_average=null (the run has" in err
    assert refused["run_unchanged"]  # .hydra/config.yaml, metrics.csv and the checkpoints untouched


def test_a_mistyped_group_gets_hydras_short_message(refused):
    err = refused["err"]["group"]
    assert failed(err) and "Could not find 'model/atention'" in err
    assert "attention" in err.split("options")[-1] and len(err.splitlines()) < 15
