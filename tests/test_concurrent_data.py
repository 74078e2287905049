"""Two processes on one empty data folder: both succeed, and the corpus and the feature cache are built once.

The race is made certain, not hoped for: each process waits at a barrier on entering the corpus writer and the
cache builder until the other has arrived too, so both have seen "nothing built yet" before either builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY
from tests.test_sweeps import REPO, TIMEOUT_S, run_module

#: Runs ``python -m mosei_attn.prepare`` (argv[2:]) with barriers and build counters in ``argv[1]``.
RACER = r"""
import functools, os, sys, time
from pathlib import Path

import pytest

import mosei_attn.data.cache.build as cache
import mosei_attn.synthetic.writer as writer

marks = Path(sys.argv[1])

def arrive(name):
    (marks / f"{name}.{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while len(list(marks.glob(f"{name}.*"))) < 2:
        if time.monotonic() > deadline:
            raise SystemExit(f"barrier {name}: the other process never came")
        time.sleep(0.01)

def barrier_once(fn, name):
    done = []
    @functools.wraps(fn)
    def wrapped(*a, **k):
        if not done:
            done.append(1)
            arrive(name)
        return fn(*a, **k)
    return wrapped

def counted(fn, name):
    @functools.wraps(fn)
    def wrapped(*a, **k):
        (marks / f"built-{name}.{os.getpid()}").touch()
        return fn(*a, **k)
    return wrapped

writer._config = barrier_once(writer._config, "corpus")  # first thing the corpus writer does
cache.cache_path = barrier_once(cache.cache_path, "cache")  # first thing the cache builder does
writer.generate = counted(writer.generate, "corpus")
cache._create_datasets = counted(cache._create_datasets, "cache")

from mosei_attn.prepare import main
sys.argv = ["prepare", *sys.argv[2:]]
main()
"""


@pytest.mark.slow  # two processes build one data folder at once
def test_two_processes_on_an_empty_data_folder_build_once_and_both_succeed(tmp_path):
    data, marks = tmp_path / "data", tmp_path / "marks"
    marks.mkdir()
    # prepare composes no debug group of its own: the tiny shapes are added to it
    args = [a.replace("debug=", "+debug=") for a in TINY if a.startswith(("debug=", "data."))]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                str(marks),
                *args,
                f"paths.data_dir={data}",
                f"paths.log_dir={tmp_path}/logs{i}",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-2000:] + err[-4000:]
    assert len(list(marks.glob("corpus.*"))) == 2 and len(list(marks.glob("cache.*"))) == 2  # both raced
    assert len(list(marks.glob("built-corpus.*"))) == 1  # the other process adopted the corpus
    assert len(list(marks.glob("built-cache.*"))) == 1  # ... and the cache
    caches = [
        line.split("cache: ", 1)[1] for out, _ in outs for line in out.splitlines() if "cache: " in line
    ]
    assert len(caches) == 2 and caches[0] == caches[1] and Path(caches[0]).is_file()
    (corpus,) = [p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "cache"]
    assert json.loads((corpus / "SYNTHETIC.json").read_text())["summary"]  # complete, and the only corpus
    leftovers = [p.name for p in data.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []
    # a third run finds both complete and builds nothing
    proc = run_module(
        "mosei_attn.prepare", *args, f"paths.data_dir={data}", f"paths.log_dir={tmp_path}/logs2"
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"cache: {caches[0]}" in proc.stdout
