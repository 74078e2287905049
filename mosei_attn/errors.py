"""Faults in what the user gave (a setting, a file, a full disk), told in one line at the command line.

An exception class that mixes in :class:`UserFault` is such a fault: the entry points print its message on one
line (``error: ...``) and exit with status 1 (:func:`user_errors`); any other exception is a bug and keeps its
traceback. ``HYDRA_FULL_ERROR=1`` shows the traceback of a user fault too.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UserFault:
    """Mixin marking an exception as a fault in the user's input, settings or machine, not in the code."""


class ConfigError(UserFault, ValueError):
    """A setting that cannot be used (a value of the wrong type, a refused resume)."""


class MissingInputError(UserFault, FileNotFoundError):
    """A file or folder the settings name that is not there; the message names it and what it should hold."""


class DiskFullError(UserFault, OSError):
    """No space left where a file was being written; the message names the folder and the space."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


#: errno values that mean "no space": a full disk, or a quota reached.
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
#: Below this much free space, a write error that carries no errno (libsndfile's "System error.") is taken
#: for a full disk.
NEARLY_FULL_BYTES = 1 << 20


def size_text(n_bytes: float) -> str:
    """``n_bytes`` for people: ``4.1 kB``, ``83.0 MB``, ``1.2 GB`` (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n_bytes) >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes / 1e3:.1f} kB"


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the disk holding ``folder`` (or its nearest existing parent)."""
    p = Path(folder).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def is_disk_full(e: BaseException, folder: str | os.PathLike | None = None) -> bool:
    """Whether ``e`` says there is no space left (its errno, or HDF5's error text), or, with ``folder``, came
    without an errno while the disk holding ``folder`` is nearly full."""
    text = str(e)
    if (isinstance(e, OSError) and e.errno in NO_SPACE_ERRNOS) or any(
        s in text for s in ("No space left", "Disk quota exceeded", "errno = 28")
    ):
        return True
    return folder is not None and free_bytes(folder) < NEARLY_FULL_BYTES


@contextmanager
def no_space_named(folder: str | os.PathLike, what: str, needed: int | None = None) -> Iterator[None]:
    """Turn a write error that means a full disk (:func:`is_disk_full`) inside the block into one
    :class:`DiskFullError` naming ``folder``, ``what`` was written, and the space needed and free."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        if isinstance(e, DiskFullError) or not is_disk_full(e, folder):
            raise
        raise disk_full(folder, what, needed) from e


def disk_full(folder: str | os.PathLike, what: str, needed: int | None = None) -> DiskFullError:
    """The one-line error for ``what`` not fitting into ``folder``: the space needed (when known) and free."""
    need = f"needs about {size_text(needed)}, " if needed else ""
    return DiskFullError(
        errno.ENOSPC,
        f"{folder}: no space left on the device while writing {what} ({need}{size_text(free_bytes(folder))} "
        "free): free some space, or point the folder at another disk",
    )


def check_free_space(folder: str | os.PathLike, needed: int, what: str, how: str) -> None:
    """Refuse (DiskFullError) to start writing ``what`` (about ``needed`` bytes) into ``folder`` without the
    space for it; ``how`` says how to put it elsewhere."""
    free = free_bytes(folder)
    if free < needed:
        raise DiskFullError(
            errno.ENOSPC,
            f"{folder}: not enough free space for {what}: needs about {size_text(needed)}, "
            f"{size_text(free)} free; free some space or {how}",
        )


@contextmanager
def user_errors() -> Iterator[None]:
    """Around an entry point's work: a :class:`UserFault` ends the program with its message on one line
    (``error: ...``, exit status 1); other exceptions pass unchanged."""
    try:
        yield
    except Exception as e:
        if not isinstance(e, UserFault) or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def before_any_work(out_dir: Path) -> bool:
    """Whether a command's output folder holds only what Hydra puts there before the command's own work: its
    record (``.hydra/``) and the command's log (``<command>.log``)."""
    return all(p.name == ".hydra" or (p.suffix == ".log" and p.is_file()) for p in out_dir.iterdir())


@contextmanager
def discarded_on_user_fault(out_dir: str | os.PathLike) -> Iterator[None]:
    """Remove a command's output folder when the block ends in a user's mistake (a :class:`UserFault`) before
    the command wrote anything of its own (:func:`before_any_work`), so a refused command leaves no empty
    folder behind: its one ``error:`` line says what went wrong. A folder that holds anything else (a resumed
    run's checkpoints, the owner file of a run still in it) is kept."""
    try:
        yield
    except Exception as e:
        out_dir = Path(out_dir)
        if isinstance(e, UserFault) and out_dir.is_dir() and before_any_work(out_dir):
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
