"""Exclusive locks between processes on one machine (or a shared filesystem with working ``flock``).

Used where several runs may build the same thing at once (the synthetic corpus, a feature cache): the first
to take the lock builds, the others wait and then adopt the complete result instead of building it again.

A lock dies with the process that took it: its file descriptor is closed in every process forked from the
holder (worker pools inherit the descriptors of the process that forks them, and an ``flock`` lasts while any
descriptor of it is open), and the holder records its pid, host and command in the lock file, so that a
waiter says whom it waits for and gives up, naming the processes to stop, when the holder is gone but
something it left behind still holds the lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mosei_attn.errors import UserFault

log = logging.getLogger(__name__)

#: How often a waiter tries the lock again and checks that its holder lives (seconds).
POLL_S = 0.5
#: Descriptors of the locks this process holds: closed in a forked child (see the module docstring).
_HELD: set[int] = set()


class StaleLockError(UserFault, RuntimeError):
    """The process that took a lock is gone, and processes it left behind still hold the lock."""


def _drop_inherited_locks() -> None:
    """In a forked child: close the parent's lock descriptors, so that the lock ends with the parent."""
    for fd in _HELD:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file that guards ``path``: ``<path>.lock`` beside it, there while a process holds the lock."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def read_holder(lock: Path) -> dict[str, Any]:
    """What the holder of ``lock`` recorded of itself (pid, host, command); {} where nothing is readable."""
    try:
        holder = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def describe(holder: dict[str, Any]) -> str:
    """``process 123 (python -m ...) on host h`` or ``another process`` where nothing was recorded."""
    if not holder.get("pid"):
        return "another process"
    cmd = f" ({holder['cmd']})" if holder.get("cmd") else ""
    host = "" if holder.get("host") == socket.gethostname() else f" on host {holder.get('host')}"
    return f"process {holder['pid']}{cmd}{host}"


def holder_gone(holder: dict[str, Any]) -> bool:
    """Whether the recorded holder is a process of this host that no longer runs."""
    pid = holder.get("pid")
    return holder.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid)


def processes_holding(lock: Path) -> list[int]:
    """Pids of this host's processes that have ``lock`` open (from ``/proc``; [] where it cannot be read)."""
    target, pids = str(lock.absolute()), []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return sorted(pids)


def _record_holder(fd: int) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "cmd": " ".join(sys.argv)[:200]}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


def _wait(fd: int, lock: Path, what: str) -> None:
    """Block until ``fd`` holds the lock; StaleLockError when its recorded holder is gone twice in a row
    while the lock stays taken (a leftover of the holder keeps it)."""
    holder = read_holder(lock)
    log.warning("waiting for %s, which builds %s (lock %s)", describe(holder), what, lock)
    gone_before = False
    while True:
        time.sleep(POLL_S)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = read_holder(lock)
        gone = holder_gone(holder)
        if gone and gone_before:
            others = " ".join(str(p) for p in processes_holding(lock) if p != os.getpid())
            stop = f"stop them (kill {others})" if others else "stop the processes it left behind"
            raise StaleLockError(
                f"{lock}: {describe(holder)} took this lock to build {what} and is gone, but the lock is "
                f"still held: {stop} and run again"
            )
        gone_before = gone


@contextmanager
def exclusive_lock(path: str | os.PathLike, what: str = "") -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``path``'s lock file (see :func:`lock_path`) for the block; waits while
    another process holds it. The holder deletes the lock file when the block ends (a process killed holding
    it leaves the file, unlocked, which the next one takes); a waiter that locked a file deleted meanwhile
    tries again on the new one, so two processes never both hold the lock. Processes forked inside the block
    do not hold the lock (module docstring)."""
    lock = lock_path(path)
    what = what or str(path)
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise LockFileError(lock, what, e) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                _wait(fd, lock, what)
            except BaseException:
                os.close(fd)
                raise
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break  # the lock file still in place: ours
        except FileNotFoundError:
            pass  # deleted by the holder we waited for
        os.close(fd)
    _HELD.add(fd)
    try:
        _record_holder(fd)
        yield lock
    finally:
        lock.unlink(missing_ok=True)  # before the lock is released: a waiter then sees it gone and retries
        _HELD.discard(fd)
        os.close(fd)


class LockFileError(UserFault, OSError):
    """The lock file cannot be created (a read-only folder): the message says what was to be built there."""

    def __init__(self, lock: Path, what: str, e: OSError) -> None:
        super().__init__(
            e.errno,
            f"{lock.parent}: cannot create the lock file {lock.name} to build {what} there ({e.strerror}): "
            "make the folder writable, or build in another folder (paths.data_dir, data.cache_dir or "
            "MOSEI_ATTN_DATA)",
        )

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (someone else's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: Path, pattern: str = "{name}.tmp-*") -> None:
    """Delete the temporary files or folders matching ``pattern`` (``<path>.tmp-<pid>[-<hex>]``, or
    ``.old-`` for a corpus moved aside) that builds left when they were killed (their process is gone)."""
    for tmp in path.parent.glob(pattern.format(name=path.name)):
        found = re.search(r"\.(?:tmp|old)-(\d+)(?:-[0-9a-f]+)?$", tmp.name)
        pid = found.group(1) if found else ""
        if pid and not pid_alive(int(pid)):
            log.info("%s: left by a killed build (process %s is gone): deleted", tmp, pid)
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
