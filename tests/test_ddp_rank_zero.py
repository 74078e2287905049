"""Under DDP only global rank 0 writes the run: two CPU processes (`trainer=ddp_cpu`), one epoch of the tiny
corpus, one run folder with one metrics.json, one checkpoint set and one set of figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, free_port

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300


@pytest.mark.slow  # two ranks, each a fresh interpreter importing torch and Lightning
def test_ddp_cpu_run_is_written_once_by_rank_zero(data_dir, tmp_path):
    logs = tmp_path / "logs"
    # the processes meet on a port the OS chose as free (not a fixed one another run may hold)
    env = os.environ | {"WANDB_MODE": "disabled", "MPLBACKEND": "Agg", "MASTER_PORT": str(free_port())}
    cmd = [sys.executable, "-m", "mosei_attn.train", "trainer=ddp_cpu", *TINY, f"paths.data_dir={data_dir}"]
    # the default, timestamped run folder under paths.log_dir; figures drawn: rank 0 alone writes them
    cmd += [f"paths.log_dir={logs}", "++trainer.limit_train_batches=2", "figures=true"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    (run,) = [p for p in logs.glob("*/*") if p.is_dir()]  # rank 1 made no run folder of its own
    assert (run / "train_ddp_process_1.log").is_file()  # rank 1 ran, in rank 0's folder
    assert proc.stdout.count("best checkpoint epoch000-ua") == 2, proc.stdout[
        -3000:
    ]  # val, test: rank 0 only
    for name in ("metrics.json", "metrics.csv", "confusion_test.png", "attention_0.png"):
        assert [p.relative_to(run).as_posix() for p in logs.rglob(name)] == [name], name
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert len(ckpts) == 2 and ckpts[0].startswith("epoch000-ua") and ckpts[1] == "last.ckpt", ckpts
