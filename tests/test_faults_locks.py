"""Fault injection on the builds that several runs share: a corpus or cache build killed with SIGKILL (an OOM
kill, ``kill -9``) leaves no process behind, the next build is not blocked and removes the killed build's
temporary folder or file; a lock whose holder is gone but still held is named, not waited on forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mosei_attn.locks import StaleLockError, exclusive_lock, lock_path
from mosei_attn.prepare import prepare_cache
from tests.conftest import compose_config

REPO = Path(__file__).resolve().parent.parent
#: A generous bound on anything here; the builds themselves get a multiple of the time the killed one ran.
MAX_S = 300


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"} | {
        "WANDB_MODE": "disabled",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": str(REPO),
    }


def poll(condition, timeout_s: float, what: str, step_s: float = 0.05):
    """Wait until ``condition()`` is true (returns it); fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(step_s)
    return result


def children(pid: int) -> list[int]:
    """Pids of the live processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_mid_build(cmd: list[str], started, tmp_path: Path) -> tuple[float, list[int]]:
    """Start ``cmd``, SIGKILL it once ``started()`` and it has workers; (seconds it ran, its worker pids).
    Workers still alive at the end of the test are killed (they are what the fix must prevent)."""
    log = open(tmp_path / "killed.log", "w")  # noqa: SIM115 (closed below)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        poll(
            lambda: proc.poll() is not None or (started() and len(children(proc.pid)) > 1),
            MAX_S,
            "build start",
        )
        assert proc.poll() is None, (
            f"the build ended before it could be killed: {(tmp_path / 'killed.log').read_text()}"
        )
        workers = children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        log.close()
    return time.monotonic() - t0, workers


def rerun_after_kill(
    killed: list[str], rerun: list[str], started, tmp_path: Path, reap: list[int]
) -> subprocess.CompletedProcess:
    """SIGKILL ``killed`` mid-build (:func:`kill_mid_build`), check that its workers existed and exit with it,
    then run ``rerun`` to its end (bounded by the killed run's own pace) and return it, status checked."""
    ran_s, workers = kill_mid_build(killed, started, tmp_path)
    reap += workers
    assert workers and started()
    poll(lambda: not any(map(alive, workers)), 30, f"workers {workers} of the killed build exit")
    again = subprocess.run(
        rerun, cwd=REPO, env=env(), capture_output=True, text=True, timeout=max(MAX_S, 20 * ran_s)
    )
    assert again.returncode == 0, again.stderr[-2000:]
    return again


@pytest.fixture
def reap():
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_corpus_build_killed_with_sigkill_does_not_block_the_next(tmp_path, reap):
    root = tmp_path / "corpus"
    cmd = [sys.executable, "-m", "mosei_attn.synthetic", str(root), "--videos", "40"]
    temps = lambda: list(tmp_path.glob(".corpus.tmp-*"))  # noqa: E731
    wrote = lambda: any(t.rglob("*.wav") for t in temps())  # noqa: E731
    again = rerun_after_kill(cmd, cmd, lambda: wrote() and temps(), tmp_path, reap)
    assert "waiting" not in again.stderr
    assert (root / "SYNTHETIC.json").is_file()
    assert not temps() and not lock_path(tmp_path / ".corpus").exists()


#: ``python -m mosei_attn.prepare`` (argv[1:]) whose feature extraction takes a while per segment.
SLOW_PREPARE = r"""
import sys, time
import mosei_attn.data.cache.build as build

extract = build._extract_one
def slow(*a, **k):
    time.sleep(0.05)
    return extract(*a, **k)
build._extract_one = slow

from mosei_attn.prepare import main
sys.argv = ["prepare", *sys.argv[1:]]
main()
"""


def test_a_cache_build_killed_with_sigkill_does_not_block_the_next(tmp_path, reap):
    data = tmp_path / "data"
    args = [
        "+debug=tiny_shapes",
        "data.write_corpus.n_videos=16",
        f"paths.data_dir={data}",
        "data.feature_workers=2",
    ]
    prepare = [sys.executable, "-m", "mosei_attn.prepare", *args]
    # the corpus and a cache first, here (the processes under test are the killed build and the next one);
    # the cache deleted, so that the kill lands in the cache build
    prepare_cache(compose_config("prepare", args, tmp_path / "first"))
    cache = data / "cache"
    for built in cache.glob("*.h5"):
        built.unlink()
    temps = lambda: list(cache.glob("*.h5.tmp-*"))  # noqa: E731
    rerun_after_kill([sys.executable, "-c", SLOW_PREPARE, *args], prepare, temps, tmp_path, reap)
    assert not temps() and list(cache.glob("*.h5"))


def test_a_lock_held_after_its_holder_is_gone_is_named(tmp_path, monkeypatch):
    """A process the holder left behind (a worker of an older version) keeps the lock: the waiter names it."""
    import mosei_attn.locks as locks

    monkeypatch.setattr(locks, "POLL_S", 0.01)
    target = tmp_path / "thing"
    code = (
        "import sys, time\nfrom mosei_attn.locks import exclusive_lock\nwith exclusive_lock(sys.argv[1]):\n"
    )
    code += "    print('in', flush=True)\n    time.sleep(600)\n"
    cmd = [sys.executable, "-c", code, str(target)]
    holder = subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "in"
        # the recorded holder is a pid that no longer runs, while the live process still holds the lock
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        )
        text = lock_path(target).read_text().replace(str(holder.pid), gone.stdout.strip())
        lock_path(target).write_text(text)
        with pytest.raises(
            StaleLockError, match=rf"is gone, but the lock is still held: stop them \(kill {holder.pid}\)"
        ):
            with exclusive_lock(target, what="the thing"):
                pass
    finally:
        holder.kill()
        holder.wait()
