"""Fault injection on the command line: a resumed run keeps the settings its checkpoint records (an older
run's too, whatever today's defaults) and refuses overrides that would change them, a bad ckpt_path fails
before anything is written, and a mistyped config group gets Hydra's short message with the options."""

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

from mosei_attn.checkpoints.reading import CONFIG_KEY
from mosei_attn.checkpoints.resume import resumed_config
from mosei_attn.errors import ConfigError
from tests.cli_here import run_here
from tests.conftest import TINY, compose_config

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


#: What an older version of the package trained by default, where today's defaults differ (AdamW, a weight
#: average): its run folder and checkpoint record no override for them.
OLDER_DEFAULTS = ["optimizer._target_=torch.optim.Adam", "optimizer.weight_decay=0", "weight_average=null"]


def as_an_older_run(folder: Path) -> None:
    """Make ``folder`` a run of an older version: trained with ``OLDER_DEFAULTS``, which were its defaults, so
    its overrides.yaml does not name them, and from before the weight average and the ``figures`` setting
    existed, so no config of it records them."""
    newer = ("weight_average", "figures")
    overrides = folder / ".hydra" / "overrides.yaml"
    kept = [
        o
        for o in yaml.safe_load(overrides.read_text())
        if o not in OLDER_DEFAULTS and o.split("=")[0] not in newer
    ]
    overrides.write_text(yaml.safe_dump(kept))
    config = folder / ".hydra" / "config.yaml"
    config.write_text(
        yaml.safe_dump({k: v for k, v in yaml.safe_load(config.read_text()).items() if k not in newer})
    )
    for path in (folder / "checkpoints").glob("*.ckpt"):
        ckpt = torch.load(path, weights_only=False)
        for key in newer:
            del ckpt[CONFIG_KEY][key]
        torch.save(ckpt, path)


@pytest.fixture(scope="module")
def cli_run(data_dir, tmp_path_factory) -> Path:
    """A 1-epoch run started from the command line with non-default model and optimizer settings, trained and
    recorded as an older version of the package did (Adam without weight decay, no weight average)."""
    folder = tmp_path_factory.mktemp("cli") / "run"
    # No schedule: the resume below trains on for one more epoch at the same learning rate.
    args = [
        *TINY,
        f"paths.data_dir={data_dir}",
        "test=false",
        "model.dropout=0.5",
        "optimizer.lr=0.01",
        "~scheduler",
        *OLDER_DEFAULTS,
    ]
    with pytest.MonkeyPatch.context() as mp:  # the command line in this process: one start-up less
        proc = run_here("mosei_attn.train", *args, f"hydra.run.dir={folder}", monkeypatch=mp)
    assert proc.returncode == 0
    as_an_older_run(folder)
    return folder


def test_an_older_run_resumes_with_only_ckpt_path_and_its_recorded_settings(
    cli_run, tmp_path, monkeypatch, capfd
):
    """Resumed with nothing but ckpt_path (and a longer run), a run recorded with Adam and no weight average
    goes on with Adam, without an average, and with its own model and optimizer settings; a run setting it
    never recorded (``figures``) takes today's value."""
    run_dir = tmp_path / "run"
    shutil.copytree(cli_run, run_dir)  # the refusals below read cli_run as its epoch left it
    hydra_record = {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()}
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = run_here(
        "mosei_attn.train", f"ckpt_path={last}", "trainer.max_epochs=2", monkeypatch=monkeypatch, capfd=capfd
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(last, weights_only=False)
    assert ckpt["epoch"] == 1 and ckpt["hyper_parameters"]["dropout"] == 0.5
    optimizer = ckpt["hyper_parameters"]["optimizer"]
    assert (
        optimizer["_target_"] == "torch.optim.Adam"
        and optimizer["weight_decay"] == 0
        and optimizer["lr"] == 0.01
    )
    (group,) = ckpt["optimizer_states"][0]["param_groups"]  # the optimizer that stepped: Adam, not AdamW
    assert group["decoupled_weight_decay"] is False and group["weight_decay"] == 0
    assert "current_model_state" not in ckpt  # no weight average: the weights as trained
    assert ckpt[CONFIG_KEY]["trainer"]["max_epochs"] == 2 and "weight_average" not in ckpt[CONFIG_KEY]
    # a run setting the run never recorded takes today's default: the figures are drawn
    assert ckpt[CONFIG_KEY]["figures"] is True and (run_dir / "curves.png").is_file()
    assert {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()} == hydra_record  # how it started


def resume(cli_run, tmp_path, *overrides):
    return resumed_config(
        compose_config("train", [f"ckpt_path={cli_run / 'checkpoints' / 'last.ckpt'}", *overrides], tmp_path)
    )


def test_a_resume_takes_the_resumable_overrides_and_the_run_settings(cli_run, tmp_path):
    cfg = resume(
        cli_run,
        tmp_path / "run",
        "trainer.max_epochs=5",
        "optimizer.lr=0.01",
        "seed=42",
        "data.num_workers=1",
    )
    assert cfg.trainer.max_epochs == 5 and cfg.data.num_workers == 1  # resumable: taken
    assert (
        cfg.optimizer.lr == 0.01 and cfg.model.dropout == 0.5 and cfg.optimizer._target_ == "torch.optim.Adam"
    )
    # debug=tiny_shapes and ~scheduler, as recorded
    assert cfg.data.audio.max_frames == 64 and "scheduler" not in cfg
    assert cfg.paths.output_dir == str(tmp_path / "run") and cfg.trainer.accelerator == "cpu"
    assert cfg.callbacks.model_checkpoint.dirpath == str(
        tmp_path / "run" / "checkpoints"
    )  # the folder it is in now


def test_a_resume_refuses_other_settings_naming_each_with_both_values(cli_run, tmp_path):
    with pytest.raises(ConfigError) as e:
        resume(cli_run, tmp_path / "run", "seed=7", "optimizer=adamw", "debug=overfit")
    message = str(e.value)
    assert "seed: 42 in the run, 7 now" in message
    assert "optimizer._target_: 'torch.optim.Adam' in the run, 'torch.optim.AdamW' now" in message
    assert "optimizer.weight_decay: 0 in the run" in message
    assert "model.dropout" not in message and "trainer.max_epochs" not in message


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
    """Commands that must fail on their arguments, run in an empty working folder; their stderr and exit
    codes, and the files of the working folder and of the run folder before and after."""
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
            [f"ckpt_path={last}", "model=shallow", "model.dropout=0.2", "weight_average.decay=0.9"],
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
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert failed(err) and "Nothing was written" in line
    shallow = "'mosei_attn.models.ShallowModule' now"
    assert f"model._target_: 'mosei_attn.models.AttentionModule' in the run, {shallow}" in line
    assert "model.dropout: 0.5 in the run, 0.2 now" in line
    # the weight average decides which weights are checkpointed: a run recorded without one keeps none
    assert "weight_average.decay: None in the run, 0.9 now" in line
    assert refused["run_unchanged"]  # .hydra/config.yaml, metrics.csv and the checkpoints untouched


def test_a_mistyped_group_gets_hydras_short_message(refused):
    err = refused["err"]["group"]
    assert failed(err) and "Could not find 'model/atention'" in err
    assert "attention" in err.split("options")[-1] and len(err.splitlines()) < 15
