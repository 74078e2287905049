"""The mutation check's list (tests/mutation/mutants.py) stays runnable as the code moves: each mutant's
snippet is found exactly once in its file, its replacement differs, and the tests it names exist. The
mutants themselves run with ``python -m tests.mutation`` (docs/testing.md), not here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutation.mutants import MUTANTS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_each_mutant_applies_to_the_code_as_it_is(mutant):
    source = (REPO / mutant.file).read_text()
    found = source.count(mutant.old)
    assert found == 1, f"{mutant.file}: {mutant.name}'s snippet is found {found} times; re-target it"
    assert mutant.new != mutant.old
    assert mutant.equivalent or mutant.tests, f"{mutant.name} names no test to run"
    for node in mutant.tests:
        path, _, name = node.partition("::")
        assert (REPO / path).is_file(), f"{mutant.name}: {path} does not exist"
        if name:
            function = name.split("[")[0].split("::")[-1]
            assert f"def {function}(" in (REPO / path).read_text(), f"{mutant.name}: {node} does not exist"
