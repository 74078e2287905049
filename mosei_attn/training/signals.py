"""A run ended by SIGTERM (``timeout``, ``kill``, a scheduler's preemption) exits non-zero, saying how to
resume.

Lightning's signal connector turns SIGTERM into
:class:`~lightning.pytorch.utilities.exceptions.SIGTERMException` at the next batch: a ``SystemExit`` without
a status, which would end the process with status 0, as if the run had finished. :func:`sigterm_exits_nonzero`
around a run turns it into :data:`SIGTERM_STATUS` and one line on stderr that names the resume command
(``checkpoints/last.ckpt``: the state after the last validation). Under SLURM, requeueing stays Lightning's
(``SLURMEnvironment(auto_requeue=True)``: SIGUSR1 saves
``hpc_ckpt_<n>.ckpt`` and requeues the job, which then resumes from it by itself); the line then says so.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.utilities.exceptions import SIGTERMException

#: Exit status of a run ended by SIGTERM: 128 + 15, what a shell reports for a process the signal killed.
SIGTERM_STATUS = 143
#: The checkpoint a run rewrites after every validation (conf/callbacks/default.yaml's last_checkpoint).
LAST = Path("checkpoints") / "last.ckpt"


def resume_line(run_dir: str | Path) -> str:
    """The one line a run stopped by SIGTERM prints: how to resume it, or that nothing was saved yet."""
    from mosei_attn.checkpoints.resume import hpc_checkpoint

    run_dir = Path(run_dir)
    if hpc_checkpoint(run_dir):
        return (
            f"error: stopped by SIGTERM; SLURM requeues the job, which resumes from {run_dir}/hpc_ckpt_*.ckpt"
        )
    last = run_dir / LAST
    if not last.is_file():
        return (
            f"error: stopped by SIGTERM before the first validation saved {last}: nothing to resume, "
            "start again"
        )
    command = shlex.join(["python", "-m", "mosei_attn.train", f"ckpt_path={last}"])
    return (
        f"error: stopped by SIGTERM; {last} holds the state after the last validation: resume with {command}"
    )


@contextmanager
def sigterm_exits_nonzero(run_dir: str | Path, rank_zero: bool = True) -> Iterator[None]:
    """Around a run: SIGTERM ends it with :data:`SIGTERM_STATUS` and (on rank 0) :func:`resume_line`."""
    try:
        yield
    except SIGTERMException:
        if rank_zero:
            print(resume_line(run_dir), file=sys.stderr, flush=True)
        raise SystemExit(SIGTERM_STATUS) from None
