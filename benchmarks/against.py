"""``--against <commit>``: the same benchmark at an earlier commit, in its own process, and each figure's
ratio.

A benchmark that takes ``--against`` runs, after its own measurement, its own script as it was at
``<commit>``: the commit's files are exported (``git archive``) into a temporary folder, and that copy of the
script runs there with the package of that commit on ``PYTHONPATH``, on this interpreter, with the
arguments of this run that the earlier script knows (the rest are named and left out). Both print their
figures as one JSON object on their last line; every number present in both is printed side by side with
``this / earlier``. Both sides run in one command, so on a shared machine the ratios, not the seconds, are
the figures to compare.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export_commit(commit: str, into: Path) -> str:
    """The files of ``commit`` (any name git knows) written under ``into``; returns its short hash."""
    try:
        cmd = ["git", "-C", str(ROOT), "rev-parse", "--short", f"{commit}^{{commit}}"]
        short = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"--against {commit}: not a commit of {ROOT} ({e.stderr.strip()})") from e
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", short], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait():
        raise SystemExit(f"--against {commit}: git archive failed")
    return short


def known_arguments(script: Path, argv: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    """``argv`` without the options that ``script --help`` does not name (and their values)."""
    helptext = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=cwd, env=env, capture_output=True, text=True
    ).stdout
    known = set(re.findall(r"--[\w-]+", helptext))
    kept = []
    dropped = []
    skipping = False
    for arg in argv:
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            skipping = name not in known
            (dropped if skipping else kept).append(arg)
        else:
            (dropped if skipping else kept).append(arg)
    if dropped:
        print(f"  (the earlier script does not know {' '.join(dropped)}: left out there)")
    return kept


def run_earlier(commit: str, script: str, argv: list[str]) -> tuple[str, dict]:
    """Run ``script`` (a path under the repository) as it was at ``commit`` with the ``argv`` it knows;
    returns the commit's short hash and the JSON object its last line printed."""
    with tempfile.TemporaryDirectory(prefix="mosei_against_") as tmp:
        tree = Path(tmp)
        short = export_commit(commit, tree)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        path = tree / script
        if not path.is_file():
            raise SystemExit(f"--against {commit}: {script} does not exist at {short}")
        cmd = [sys.executable, str(path), *known_arguments(path, argv, tree, env)]
        print(f"\n=== {script} at {short} ({' '.join(cmd[2:]) or 'no arguments'}) ===", flush=True)
        out = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, text=True)
        sys.stdout.write(out.stdout)
        if out.returncode:
            raise SystemExit(f"{script} at {short} failed (exit {out.returncode})")
    return short, json.loads(out.stdout.strip().splitlines()[-1])


def numbers(figures: dict, prefix: str = "") -> dict[str, float]:
    """Every number of a (nested) JSON object by its dotted key; booleans left out."""
    flat: dict[str, float] = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            flat |= numbers(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[prefix + key] = value
    return flat


def compare(ours: dict, theirs: dict, short: str) -> dict[str, float]:
    """Print the figures present in both side by side with ``this / earlier``; returns the ratios."""
    a, b = numbers(ours), numbers(theirs)
    common = [k for k in a if k in b and b[k]]
    width = max((len(k) for k in common), default=10)
    print(f"\n{'figure':<{width}} {'this':>12} {short:>12} {'this/' + short:>14}")
    ratios = {}
    for key in common:
        ratio = ratios[key] = a[key] / b[key]
        print(f"{key:<{width}} {a[key]:12.4g} {b[key]:12.4g} {ratio:14.3f}")
    only = sorted(set(a) - set(b))
    if only:
        print(f"(only in this run: {', '.join(only)})")
    return ratios


def against(commit: str | None, script: str, ours: dict, argv: list[str] | None = None) -> dict | None:
    """When ``commit`` is given: :func:`run_earlier` with this run's arguments (``argv``, default
    ``sys.argv[1:]``) but ``--against`` and ``--workdir``, then :func:`compare`; the earlier figures and the
    ratios."""
    if not commit:
        return None
    argv = without(sys.argv[1:] if argv is None else argv, "--against", "--workdir")
    short, theirs = run_earlier(commit, script, argv)
    return {"commit": short, "figures": theirs, "ratios": compare(ours, theirs, short)}


def without(argv: list[str], *options: str) -> list[str]:
    """``argv`` without ``options`` and their values (``--against`` itself: the earlier script is not asked to
    compare again; a ``--workdir``: each side writes its own files)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif arg.split("=", 1)[0] not in options:
            out.append(arg)
    return out
