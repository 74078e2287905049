"""Fault injection on a running training: SIGTERM (``timeout``, ``kill``, a scheduler's preemption) ends the
run with a non-zero status and one line naming the command that resumes it from the checkpoint it left."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys

from mosei_attn.training.signals import SIGTERM_STATUS
from tests.conftest import TINY
from tests.test_faults_locks import MAX_S, REPO, env, poll


def test_sigterm_in_the_second_epoch_exits_nonzero_naming_the_resume_command(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    cmd = [sys.executable, "-m", "mosei_attn.train", *TINY, f"paths.data_dir={data_dir}"]
    cmd += ["trainer.max_epochs=1000", "test=false", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        poll(
            lambda: last.is_file() or proc.poll() is not None,
            MAX_S,
            "the first epoch's last.ckpt",
            step_s=0.2,
        )
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=MAX_S)
    finally:
        proc.kill()
    assert proc.returncode == SIGTERM_STATUS, err[-3000:]
    assert last.is_file()
    line = [s for s in err.splitlines() if s.strip()][-1]
    assert line.startswith("error: stopped by SIGTERM") and "Traceback" not in err, err[-3000:]
    command = line.rsplit("resume with ", 1)[1]
    assert shlex.split(command) == ["python", "-m", "mosei_attn.train", f"ckpt_path={last}"]
