"""benchmarks/against.py: a benchmark's ``--against COMMIT`` runs that commit's copy of the script with the
arguments it knows and prints each common figure's ratio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import against  # noqa: E402  (benchmarks/against.py)

# The benchmark as it was at the earlier commit: it knows --n only and reports what it was given.
EARLIER = """
import argparse, json, os, sys
ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=1)
args = ap.parse_args()
print("measuring")
print(json.dumps({"rate": 2.0 * args.n, "nested": {"ms": 4.0}, "zero": 0, "argv": sys.argv[1:],
                  "pythonpath": os.environ["PYTHONPATH"]}))
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def test_against_runs_the_commits_script_with_the_arguments_it_knows(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    (repo / "benchmarks").mkdir(parents=True)
    (repo / "benchmarks/bench.py").write_text(EARLIER)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "earlier")
    (repo / "benchmarks/bench.py").write_text("raise SystemExit('the working copy must not run')")
    monkeypatch.setattr(against, "ROOT", repo)
    ours = {"rate": 9.0, "nested": {"ms": 2.0}, "zero": 3, "new_figure": 1.0}
    argv = ["--n", "3", "--new-option", "7", "--against", "HEAD", "--workdir=/tmp/x"]
    result = against.against("HEAD", "benchmarks/bench.py", ours, argv)
    theirs = result["figures"]
    assert result["commit"] == git(repo, "rev-parse", "--short", "HEAD").strip()
    assert theirs["argv"] == ["--n", "3"] and theirs["pythonpath"] != str(repo)  # its own exported copy
    assert result["ratios"] == {"rate": 1.5, "nested.ms": 0.5}  # a zero earlier figure has no ratio
    printed = capsys.readouterr().out
    assert "measuring" in printed and "--new-option 7" in printed and "new_figure" in printed


def test_against_names_a_commit_that_does_not_exist(monkeypatch):
    monkeypatch.setattr(against, "ROOT", ROOT)
    with pytest.raises(SystemExit, match="no-such-commit-xyz: not a commit"):
        against.against("no-such-commit-xyz", "benchmarks/data.py", {}, [])
