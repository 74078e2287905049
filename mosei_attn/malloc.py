"""Keep glibc's malloc from giving large freed buffers back to the OS and faulting them in again.

A training step frees and allocates the same large activation buffers every step (up to 330 MB each at the
paper's shapes, batch 32). By default glibc serves every block over 32 MiB with its own ``mmap`` and unmaps
it when freed, so the next step takes a page fault per 4 KiB page again: about 0.7 million minor faults and
1.5 s of kernel time per attention training step. :func:`keep_freed_memory` raises glibc's mmap and trim
thresholds with ``mallopt``, so freed blocks stay in the heap and the next step reuses them. The price:
resident memory stays at the process's peak instead of dropping between steps.

Environment variables cannot do this from inside Python: glibc reads ``MALLOC_*`` / ``GLIBC_TUNABLES``
once, before the interpreter starts. So the entry points call :func:`keep_freed_memory` first
(:func:`mosei_attn.process.process_setup`), as do the test session and DataLoader workers (forked workers
inherit the parent's malloc settings anyway), and so does each network (``AttentionNet``, ``ShallowNet``) on
its first forward: a user's own loop gets the same fast path. Importing the package sets nothing.

Opt out with ``MOSEI_ATTN_MALLOC=0`` in the environment. glibc's own variables, when set, win: then this does
nothing. On a C library other than glibc it does nothing either.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: Environment variable: ``0`` (or ``false`` / ``no`` / ``off``) leaves glibc's malloc at its defaults.
OPT_OUT_VAR = "MOSEI_ATTN_MALLOC"
#: glibc's own settings: when any is in the environment, the user chose, and :func:`keep_freed_memory` keeps
#: out.
GLIBC_VARS = ("GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")

# mallopt parameter numbers from glibc's <malloc.h>.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4
INT_MAX = 2**31 - 1  # mallopt takes a C int

#: (parameter, value in bytes): blocks below 1 GiB come from the heap instead of their own mmap (glibc 2.36
#: accepts INT_MAX here but then still maps large blocks: measured), up to 2 GiB of free heap top is kept
#: instead of returned, and the heap grows 64 MiB at a time.
SETTINGS = ((M_MMAP_THRESHOLD, 2**30), (M_TRIM_THRESHOLD, INT_MAX), (M_TOP_PAD, 64 * 2**20))

_applied: bool | None = None


def opted_out(environ: os._Environ | dict[str, str] = os.environ) -> bool:
    """True when ``MOSEI_ATTN_MALLOC`` says no or glibc's own malloc variables are set."""
    if environ.get(OPT_OUT_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return True
    return any(var in environ for var in GLIBC_VARS)


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed blocks for reuse (see the module docstring); once per process.

    Returns True when the settings are in force, False when opted out or not on glibc.
    """
    global _applied
    if _applied is None:
        _applied = False if opted_out() or platform.libc_ver()[0] != "glibc" else _mallopt()
    return _applied


def _mallopt() -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    done = {param: mallopt(param, value) == 1 for param, value in SETTINGS}
    if not done[M_MMAP_THRESHOLD]:
        # Some glibc versions cap the mmap threshold at 32 MiB; no mmap at all then has the same effect.
        done[M_MMAP_THRESHOLD] = mallopt(M_MMAP_MAX, 0) == 1
    return all(done.values())


def on_forward() -> None:
    """What each network's forward calls first: :func:`keep_freed_memory`, so a user's own loop gets the fast
    path too (once per process, unless opted out); nothing inside a graph being compiled, where a ctypes call
    cannot be traced."""
    import torch

    if not torch.compiler.is_compiling():
        keep_freed_memory()
