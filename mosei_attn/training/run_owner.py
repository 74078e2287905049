"""Who writes a run folder: one live run at a time.

A run folder's name is unique (``run_name`` in :mod:`mosei_attn.config`: a time stamp, the model where there
is one, and a tag of the process; see conf/hydra/default.yaml), and rank 0 of a run records itself in
``<run>/run.owner`` (pid, host, SLURM job) while it trains; the file is removed when the run ends. A second
run that would write into the folder (a resume, a fixed ``hydra.run.dir``) is refused while the owner lives.
An owner that is gone (a dead pid on this host, or the same SLURM job requeued) is taken over; an owner on
another host cannot be checked from here, so the message says which file to delete when that run is known to
be over.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mosei_attn.files import write_json
from mosei_attn.locks import exclusive_lock, pid_alive

OWNER_FILE = "run.owner"


def this_process(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """What ``run.owner`` records of the running process."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "slurm_job_id": environ.get("SLURM_JOB_ID")}


def read_owner(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The owner recorded in ``run_dir``, or None where none is (an unreadable file counts as none: it is
    written atomically, so only a hand-edited one is unreadable)."""
    try:
        owner = json.loads((Path(run_dir) / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def live_owner(run_dir: str | os.PathLike, environ: Mapping[str, str] = os.environ) -> dict[str, Any] | None:
    """The owner of ``run_dir`` if it is another run that may still be alive, else None (no owner, this
    process, a dead process on this host, or this SLURM job before a requeue)."""
    owner, me = read_owner(run_dir), this_process(environ)
    if owner is None:
        return None
    if owner.get("slurm_job_id") and owner.get("slurm_job_id") == me["slurm_job_id"]:
        return None  # the same SLURM job, requeued: its earlier incarnation is over
    if owner.get("host") == me["host"]:
        pid = owner.get("pid")
        if pid == me["pid"] or not isinstance(pid, int) or not pid_alive(pid):
            return None
    return owner


def refuse_if_owned(run_dir: str | os.PathLike, environ: Mapping[str, str] = os.environ) -> None:
    """Exit, before anything is written, when another live run owns ``run_dir``."""
    owner = live_owner(run_dir, environ)
    if owner is not None:
        raise SystemExit(
            f"{run_dir}: another run writes into this run folder (pid {owner.get('pid')} on host "
            f"{owner.get('host')}, recorded in {Path(run_dir) / OWNER_FILE}); this run stops. Wait for that "
            f"one to end, or, if it is known to be over (a killed job on another host), delete {OWNER_FILE}"
        )


@contextmanager
def owned_run_dir(run_dir: str | os.PathLike, environ: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Own ``run_dir`` for the block (refused when another live run owns it: :func:`refuse_if_owned`); the
    owner file is removed afterwards, so the finished run can be resumed."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / OWNER_FILE
    with exclusive_lock(path):  # two runs claiming at once: one after the other
        refuse_if_owned(run_dir, environ)
        me = this_process(environ)
        write_json(path, me)
    try:
        yield
    finally:
        if read_owner(run_dir) == me:
            path.unlink(missing_ok=True)
