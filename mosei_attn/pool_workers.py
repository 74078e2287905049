"""Worker processes that end with the process that started them.

A pool's workers outlive a parent killed with SIGKILL (an OOM kill, ``kill -9``): they wait for work on a
queue that nobody closes, forever, holding memory and whatever they inherited. :func:`end_with_parent` in a
pool's ``initializer`` makes the kernel kill the worker when its parent dies (``PR_SET_PDEATHSIG`` on Linux;
elsewhere a thread that watches the parent's pid).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: prctl option: the signal this process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: How often the watch thread looks at the parent's pid where prctl is missing (seconds).
WATCH_S = 1.0


def end_with_parent(parent_pid: int | None = None) -> None:
    """In a pool worker: be killed when its parent dies; with ``parent_pid`` (the pid of the process that
    started the pool, for the fork and spawn start methods), also when that one died before this call."""
    parent_pid = parent_pid or os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent_pid:  # died before prctl took effect
                os._exit(1)
            return
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="end-with-parent").start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_S)
    os._exit(1)
