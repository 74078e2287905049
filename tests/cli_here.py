"""A command-line program run inside the test process: ``python -m <module> args`` without a new
interpreter, for the many tests that check what one mistaken command prints and returns. The processes'
own plumbing (signals, locks, Hydra's launch) is tested with real subprocesses elsewhere."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
import traceback

import pytest
from hydra.core.global_hydra import GlobalHydra


def run_here(
    module: str, *args: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture | None = None
) -> subprocess.CompletedProcess:
    """Run ``module``'s command line (its ``cli()``, else ``main()``: what ``python -m module`` calls) with
    ``args`` in this process, and return it as a finished process would be: its exit status, and its stdout
    and stderr as the interpreter would leave them (a ``SystemExit`` message printed on stderr, an uncaught
    exception as its traceback, status 1). Hydra's short error reports (no ``HYDRA_FULL_ERROR``); the
    logging handlers a Hydra job adds are closed and removed afterwards. Without ``capfd`` (a fixture of
    wider scope than a test: ``pytest.MonkeyPatch.context()`` for ``monkeypatch``) the output is not kept:
    stdout and stderr come back empty."""
    program = importlib.import_module(module)
    entry = getattr(program, "cli", None) or program.main
    monkeypatch.setattr(sys, "argv", [module, *args])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    if capfd is not None:
        capfd.readouterr()  # what the test printed before is not the program's
    status = 0
    try:
        entry()
    except SystemExit as e:
        if isinstance(e.code, str):  # raise SystemExit("message"): the interpreter prints it, status 1
            print(e.code, file=sys.stderr)
        status = 1 if isinstance(e.code, str) else (e.code or 0)
    except Exception:
        traceback.print_exc()
        status = 1
    finally:
        for handler in set(root.handlers) - set(handlers):
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        GlobalHydra.instance().clear()
    out, err = capfd.readouterr() if capfd is not None else ("", "")
    return subprocess.CompletedProcess([sys.executable, "-m", module, *args], status, out, err)
