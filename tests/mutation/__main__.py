"""Run the hand-written mutants (tests/mutation/mutants.py): ``python -m tests.mutation``.

The tree as it is now (tracked files and untracked ones git does not ignore) is copied once to a temporary
folder; each mutant is applied there alone, its tests run there (``PYTHONPATH`` the copy), and the file
restored before the next. The working tree is never written, and the copy is deleted at the end (a crash
leaves at most a folder under the system's temporary directory). The tests are first run on the copy
unchanged: a mutant only counts as caught by tests that pass without it.

Results: ``caught by <test>``, ``SURVIVED``, ``patch does not apply`` (the snippet is not found exactly once:
the code moved; re-target it), ``equivalent`` (not run). The exit status is 1 when a non-equivalent mutant
survived or no longer applies.

    python -m tests.mutation                      # all of them (several minutes)
    python -m tests.mutation --list               # which patches apply, nothing run
    python -m tests.mutation --only crc-not-checked --only ua-over-all-classes
    python -m tests.mutation --docs docs/testing.md   # also write the table between the markers there
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.mutation.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- mutants:begin -->", "<!-- mutants:end -->"
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


def copy_tree(dest: Path) -> None:
    """Copy what git sees of the working tree (tracked, and untracked but not ignored) to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():  # a tracked file deleted in the working tree is not copied
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def applies(tree: Path, m: Mutant) -> bool:
    path = tree / m.file
    return path.is_file() and path.read_text().count(m.old) == 1


def run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[int, str]:
    env = os.environ | {"PYTHONPATH": str(tree), "WANDB_MODE": "disabled", "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rfE", *tests]
    try:
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "timed out"
    return done.returncode, done.stdout + done.stderr


def run_mutant(tree: Path, m: Mutant, timeout: float) -> str:
    if m.equivalent:
        return "equivalent"
    if not applies(tree, m):
        return "patch does not apply"
    path = tree / m.file
    original = path.read_text()
    path.write_text(original.replace(m.old, m.new))
    try:
        rc, out = run_tests(tree, m.tests, timeout)
    finally:
        path.write_text(original)
    if rc == 0:
        return "SURVIVED"
    if rc == -1:
        return "caught (timed out)"
    if rc == 5:
        return "no tests selected"
    if rc in (2, 3, 4):  # interrupted, internal error, usage error: e.g. the mutant does not import
        return f"does not run (pytest exit {rc})"
    failed = FAILED.findall(out)
    return f"caught by {failed[0].split('/')[-1]}" if failed else f"caught (pytest exit {rc})"


def table(rows: list[tuple[Mutant, str]]) -> str:
    lines = ["| mutant | file | the change breaks | result |", "| --- | --- | --- | --- |"]
    for m, result in rows:
        shown = f"equivalent: {m.breaks.removeprefix('equivalent: ')}" if m.equivalent else result
        breaks = "" if m.equivalent else m.breaks
        lines.append(f"| {m.name} | {m.file.removeprefix('mosei_attn/')} | {breaks} | {shown} |")
    return "\n".join(lines) + "\n"


def write_docs(path: Path, rows: list[tuple[Mutant, str]]) -> None:
    """Write the table between the markers in ``path``: the rows run now, and for the other mutants still in
    MUTANTS their rows already there (``--only`` updates the table row by row); rows of mutants no longer
    listed are dropped."""
    doc = path.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} markers to write the table between")
    head, rest = doc.split(BEGIN, 1)
    old, tail = rest.split(END, 1)
    kept = {line.split("|")[1].strip(): line for line in old.splitlines() if line.startswith("| ")}
    new = {line.split("|")[1].strip(): line for line in table(rows).splitlines()[2:]}
    lines = table([])[:-1].splitlines() + [
        new.get(m.name) or kept[m.name] for m in MUTANTS if m.name in new | kept
    ]
    path.write_text(f"{head}{BEGIN}\n" + "\n".join(lines) + f"\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", help="run this mutant (repeatable)")
    p.add_argument("--list", action="store_true", help="say which patches apply; run nothing")
    p.add_argument("--docs", type=Path, help="write the table into this markdown file between the markers")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant's tests")
    p.add_argument("--no-baseline", action="store_true", help="skip running the tests on the unchanged copy")
    args = p.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if unknown := set(args.only or ()) - {m.name for m in MUTANTS}:
        raise SystemExit(f"no mutant named {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="mosei_attn-mutants-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        if args.list:
            for m in chosen:
                print(
                    f"{m.name:40s} "
                    f"{'equivalent' if m.equivalent else 'applies' if applies(tree, m) else 'DOES NOT APPLY'}"
                )
            return 0
        selected = tuple(
            dict.fromkeys(t for m in chosen if not m.equivalent and applies(tree, m) for t in m.tests)
        )
        if selected and not args.no_baseline:
            rc, out = run_tests(tree, selected, args.timeout * 2)
            if rc != 0:
                print(out[-4000:], file=sys.stderr)
                raise SystemExit("the selected tests fail on the unchanged tree: no mutant can be judged")
        rows = []
        for m in chosen:
            start = time.perf_counter()
            result = run_mutant(tree, m, args.timeout)
            print(f"{m.name:40s} {result}  ({time.perf_counter() - start:.0f} s)", flush=True)
            rows.append((m, result))
    print()
    print(table(rows))
    if args.docs:
        write_docs(args.docs, rows)
    missed = [m.name for m, r in rows if not m.equivalent and not r.startswith("caught")]
    if missed:
        print(f"not caught: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
