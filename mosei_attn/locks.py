"""Exclusive locks between processes on one machine (or a shared filesystem with working ``flock``).

Used where several runs may build the same thing at once (the synthetic corpus, a feature cache): the first
to take the lock builds, the others wait and then adopt the complete result instead of building it again.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file that guards ``path``: ``<path>.lock`` beside it, there while a process holds the lock."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextmanager
def exclusive_lock(path: str | os.PathLike, what: str = "") -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``path``'s lock file (see :func:`lock_path`) for the block; waits while
    another process holds it. The holder deletes the lock file when the block ends (a process killed holding it
    leaves the file, unlocked, which the next one takes); a waiter that locked a file deleted meanwhile tries
    again on the new one, so two processes never both hold the lock."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise OSError(f"{lock}: cannot create the lock file guarding {path} ({e.strerror})") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process building %s (lock %s)", what or path, lock)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break  # the lock file still in place: ours
        except FileNotFoundError:
            pass  # deleted by the holder we waited for
        os.close(fd)
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)  # before the lock is released: a waiter then sees it gone and retries
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (someone else's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: Path) -> None:
    """Delete ``<path>.tmp-<pid>`` files left by builds that were killed (their process is gone)."""
    for tmp in path.parent.glob(path.name + ".tmp-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
