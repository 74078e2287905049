"""DDP: the trainer configs, the command line Lightning's child processes get, and (slow) a two-seed sweep
with `trainer=ddp_cpu` whose test figures equal a one-process evaluation of the same checkpoint.

What is comparable: training under DDP is not the one-process run (each rank draws its own shard with its own
shuffle and the gradient averages two per-process batches), so the figures of two trainings differ. The
evaluation is: the best checkpoint's test figures computed by two ranks (confusion matrices summed across
ranks) must equal the same checkpoint evaluated in one process. Exactly, up to float rounding (1e-6), when the
test split divides by the number of ranks; otherwise Lightning's DistributedSampler pads the split with
repeated segments (at most ranks - 1), and the figures may differ by those repeats.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

from mosei_attn.training.build import build_datamodule
from mosei_attn.training.launch import OVERRIDES_ENV, RUN_DIR_ENV, launch_argv
from tests.conftest import TINY, compose_config, evaluate_checkpoint

REPO = Path(__file__).resolve().parent.parent
RANKS = 2  # conf/trainer/ddp_cpu.yaml devices
TIMEOUT_S = 300


def test_ddp_child_runs_rank0_job_in_rank0_folder(tmp_path):
    run_dir = "/runs/multirun/x/0_attention_seed1,odd=name"  # a comma would read as a sweep, unquoted
    env = {"LOCAL_RANK": "1", RUN_DIR_ENV: run_dir, OVERRIDES_ENV: json.dumps(["seed=1", "trainer=ddp_cpu"])}
    # What Lightning runs for rank 1 of a sweep's job: the sweep's own command line plus its hydra.*
    # additions.
    lightning_cmd = ["mosei_attn.train", "-m", "seed=1,2", "trainer=ddp_cpu", 'hydra.run.dir="x"']
    argv = launch_argv(lightning_cmd, environ=env)
    assert argv[:3] == ["mosei_attn.train", "seed=1", "trainer=ddp_cpu"]  # the job, not the sweep
    assert "-m" not in argv and "hydra.mode=RUN" in argv and "hydra.output_subdir=null" in argv
    cfg = compose_config("train", argv[1:], tmp_path / "run")
    assert HydraConfig.get().run.dir == run_dir and cfg.seed == 1
    assert launch_argv(lightning_cmd, environ={**env, "LOCAL_RANK": "0"}) == lightning_cmd
    assert launch_argv(lightning_cmd, environ={"LOCAL_RANK": "1"}) == lightning_cmd  # torchrun & co.


def test_srun_and_torchrun_processes_share_one_named_run_folder():
    srun = {"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "3"}
    with pytest.raises(SystemExit, match="same run folder"):
        launch_argv(["train", "trainer=ddp"], environ=srun)
    argv = launch_argv(["train", "trainer=ddp", "hydra.run.dir=runs/job7"], environ=srun)
    assert argv[-2:] == ["hydra.output_subdir=null", "hydra.job.name=train_rank3"]  # one .hydra/, by rank 0
    rank0 = ["train", "trainer=ddp", "hydra.run.dir=runs/job7"]
    assert launch_argv(rank0, environ={**srun, "SLURM_PROCID": "0"}) == rank0
    torchrun = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
    with pytest.raises(SystemExit, match="same run folder"):
        launch_argv(["train", "trainer=ddp"], environ=torchrun)
    assert launch_argv(rank0, environ=torchrun)[-1] == "hydra.job.name=train_rank1"


def test_ddp_trainer_configs(tmp_path):
    cfg = compose_config("train", ["trainer=ddp_cpu"], tmp_path / "run")
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)  # launches nothing yet
    assert type(trainer.strategy).__name__ == "DDPStrategy"
    assert trainer.strategy._process_group_backend == "gloo"
    assert trainer.num_devices == RANKS and trainer.num_nodes == 1
    cfg = compose_config(
        "train", ["trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4"], tmp_path / "run"
    )
    assert (
        cfg.trainer.strategy == "ddp" and cfg.trainer.accelerator == "gpu"
    )  # from trainer/ddp.yaml's defaults
    if torch.cuda.is_available():
        assert instantiate(cfg.trainer, devices=1, num_nodes=1, logger=False).num_devices == 1


@pytest.mark.slow  # two jobs, each two processes: about a minute on two cores
def test_ddp_cpu_sweep_gives_one_folder_per_job_and_exact_test_figures(train_cfg, data_dir, tmp_path):
    logs = tmp_path / "logs"
    env = os.environ | {"WANDB_MODE": "disabled", "MPLBACKEND": "Agg"}
    cmd = [
        sys.executable,
        "-m",
        "mosei_attn.train",
        "-m",
        "seed=1,2",
        "trainer=ddp_cpu",
        *TINY,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={logs}",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    assert [p.name for p in logs.iterdir()] == ["multirun"]  # rank 1 made no run folder of its own
    (sweep,) = (logs / "multirun").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0_attention_seed1", "1_attention_seed2"]
    dm = build_datamodule(train_cfg().data)
    dm.prepare_data()
    dm.setup()
    n_test = len(dm.dataset("test"))
    assert n_test % RANKS == 0  # no padded repeats: the figures below must agree exactly
    for job in jobs:
        assert (job / "train_ddp_process_1.log").is_file()  # rank 1 ran, in this folder
        saved = json.loads((job / "metrics.json").read_text())
        assert sum(map(sum, saved["test/confusion"])) == n_test  # every test segment once, over both ranks
        assert sum(map(sum, saved["val/confusion"])) == len(
            dm.dataset("val")
        )  # the best checkpoint on val too
        best = saved["best_checkpoint"]
        assert best and Path(best).parent == job / "checkpoints"
        one = evaluate_checkpoint(best, data_dir, tmp_path / f"eval_{job.name}", "accelerator=cpu")
        for key in ("test/wa", "test/ua", "test/f1_macro"):
            assert one[key] == pytest.approx(saved[key], abs=1e-6)
        assert one["test/confusion"] == saved["test/confusion"]
        # The mean test loss, a continuous figure (a few tiny-data epochs can leave every prediction the same
        # class, and then WA/UA cannot tell checkpoints apart): both ranks' halves, against one process.
        with open(job / "metrics.csv") as f:
            (ddp_loss,) = [float(r["test/loss"]) for r in csv.DictReader(f) if r.get("test/loss")]
        assert ddp_loss == pytest.approx(one_process_loss(best, dm), abs=1e-5)


@torch.no_grad()
def one_process_loss(ckpt: str, dm) -> float:
    """Mean loss of a checkpoint over the whole test split, computed here in one process."""
    from mosei_attn.checkpoints.reading import load_checkpoint

    model, _ = load_checkpoint(ckpt)
    model.eval()
    total = sum(
        float(model.loss(model(b).logits.float(), b["target"])) * len(b["target"])
        for b in dm.test_dataloader()
    )
    return total / len(dm.dataset("test"))
