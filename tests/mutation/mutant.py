"""One hand-written mutant: a small change a real edit could make, and the tests that should catch it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # relative to the repository root
    old: str  # exact snippet, found exactly once in ``file``
    new: str
    breaks: str  # what the change breaks, in words
    tests: tuple[str, ...] = ()
    equivalent: bool = False  # True: no run can tell it from the code (``breaks`` says why); not run
