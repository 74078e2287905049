"""Runs side by side: two trainings started in the same second get a run folder each, a dead owner of a run
folder is taken over (a live one refuses a resume: test_faults_checkpoint), and a sweep runs its jobs in
parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mosei_attn.data.corpora.mosei_layout import AUDIO_DIR
from mosei_attn.files import write_json
from mosei_attn.training.launch import importable
from mosei_attn.training.run_owner import OWNER_FILE, live_owner, owned_run_dir, refuse_if_owned, this_process
from tests.conftest import TINY
from tests.test_sweeps import FAST, REPO, TIMEOUT_S, run_module

#: ``python -m mosei_attn.<argv[1]>`` with the run folders' clock stopped: every run starts in the same
#: second.
SAME_SECOND = r"""
import datetime, runpy, sys
import mosei_attn.config

class Stopped(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2030, 1, 1, 0, 0, 0)

mosei_attn.config.datetime = Stopped
module = "mosei_attn." + sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__")
"""


def start(code: str, *args: str) -> subprocess.Popen:
    env = {"WANDB_MODE": "disabled", "MPLBACKEND": "Agg", "HYDRA_FULL_ERROR": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        out, err = p.communicate(timeout=TIMEOUT_S)
        assert p.returncode == 0, out[-2000:] + err[-4000:]


@pytest.fixture(scope="module")
def two_runs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two one-epoch trainings, seeds 1 and 2, started together in the same (stopped) second."""
    logs = tmp_path_factory.mktemp("logs")
    common = [
        *TINY,
        "model=shallow",
        "trainer.max_epochs=1",
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={logs}",
    ]
    finish([start(SAME_SECOND, "train", *common, f"seed={seed}") for seed in (1, 2)])
    return sorted((logs / "train").iterdir())


@pytest.mark.slow  # two trainings in two processes at once
def test_runs_started_in_the_same_second_get_a_folder_each(two_runs):
    assert len(two_runs) == 2, two_runs
    seeds = set()
    for run in two_runs:
        assert run.name.startswith("2030-01-01_00-00-00_shallow_")
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        (seed,) = [int(o.split("=")[1]) for o in overrides if o.startswith("seed=")]
        assert yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["seed"] == seed
        assert json.loads((run / "metrics.json").read_text())["model"] == "shallow"
        (ckpt,) = (run / "checkpoints").glob("epoch*.ckpt")  # one run's best checkpoint, not two
        assert not (run / OWNER_FILE).exists()  # released at the end: the run can be resumed
        seeds.add(seed)
    assert seeds == {1, 2}


@pytest.mark.slow  # two predictions in two processes at once
def test_predictions_made_in_the_same_second_get_a_folder_each(two_runs, data_dir, tmp_path):
    (wav, *_) = sorted((data_dir / "synthetic" / AUDIO_DIR).glob("*.wav"))
    ckpt = two_runs[0] / "checkpoints" / "last.ckpt"
    args = [f"ckpt_path={ckpt}", f"audio={wav}", "text=hello", "device=cpu", f"paths.log_dir={tmp_path}"]
    finish([start(SAME_SECOND, "predict", *args, f"end={end}") for end in (1.0, 2.0)])
    folders = sorted((tmp_path / "predict").iterdir())
    assert [f.name[:20] for f in folders] == ["2030-01-01_00-00-00_"] * 2, folders
    ends = {json.loads((f / "prediction.json").read_text())["end"] for f in folders}
    assert ends == {1.0, 2.0}  # each prediction kept, none overwritten by the other


def test_a_dead_or_requeued_owner_is_taken_over_and_another_hosts_is_not(tmp_path):
    run = tmp_path / "run"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_json(run / OWNER_FILE, {**this_process(), "pid": dead.pid})
    assert live_owner(run) is None
    with owned_run_dir(run):
        assert json.loads((run / OWNER_FILE).read_text()) == this_process()
    assert not (run / OWNER_FILE).exists()
    elsewhere = {"pid": 1, "host": "another-host", "slurm_job_id": "77"}
    write_json(run / OWNER_FILE, elsewhere)
    with pytest.raises(SystemExit, match="another-host"):
        refuse_if_owned(run, environ={})
    refuse_if_owned(run, environ={"SLURM_JOB_ID": "77"})  # the same SLURM job, requeued on another node


@pytest.mark.slow  # a sweep whose two jobs run in two processes at once
@pytest.mark.skipif(
    not importable("hydra_plugins.hydra_joblib_launcher"), reason="needs the [parallel] extra"
)
def test_parallel_launcher_runs_two_jobs_each_in_its_own_folder(data_dir, tmp_path):
    logs = tmp_path / "logs"
    proc = run_module(
        "mosei_attn.train",
        "-m",
        "model=shallow",
        "seed=1,2",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        *TINY,
        *FAST,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={logs}",
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    (sweep,) = (logs / "multirun").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [j.name for j in jobs] == ["0_shallow_seed1", "1_shallow_seed2"]
    for seed, job in enumerate(jobs, 1):
        assert json.loads((job / "metrics.json").read_text())["model"] == "shallow"
        hparams = yaml.safe_load((job / "hparams.yaml").read_text())
        assert hparams["seed"] == seed
        # the job saw the launcher's n_jobs: feature extraction gets its share of the cores
        assert hparams["data"]["feature_workers"] == max(1, (os.cpu_count() or 1) // 2)
