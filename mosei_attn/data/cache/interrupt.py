"""Ctrl-C during a cache build: pool workers ignore it, the parent turns it into KeyboardInterrupt between two
segments (then the pool is stopped and the temporary file removed)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def ctrl_c_as_flag() -> Iterator[list]:
    """While the main thread waits on the pool, Ctrl-C only appends to the list it yields: Python's own
    handler may raise KeyboardInterrupt inside a garbage-collector callback, where it is dropped ("Exception
    ignored in ..."), and the build would run on to the end. A handler the caller set is left alone."""
    hit: list = []
    in_main = threading.current_thread() is threading.main_thread()  # only it may set a handler
    if (
        not in_main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):  # SIG_IGN, the caller's
        yield hit
        return
    signal.signal(signal.SIGINT, lambda *_: hit.append(True))
    try:
        yield hit
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def until_ctrl_c(results: Iterator, hit: list) -> Iterator:
    """``results``, stopped by KeyboardInterrupt between two segments once ``hit`` holds a Ctrl-C."""
    for result in results:
        if hit:
            raise KeyboardInterrupt
        yield result


def ignore_sigint() -> None:
    """In a pool worker: Ctrl-C is the parent's to handle (it stops the pool); a worker dying of it can hang
    it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
