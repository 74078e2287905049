"""The commands other than the entry points that README.md, docs/*.md and sweeps/README.md show (``make``,
``wandb sweep``, ``python benchmarks/...``) name Makefile targets, files and options that exist."""

from __future__ import annotations

import re

import pytest

from tests.test_readme import DOCS, REPO, _logical_lines

#: Commands other than the entry points that the pages show, and what each must find in the repository.
OTHER_COMMAND = re.compile(r"(?:^|\s)(make|wandb sweep|python) (benchmarks/\w+\.py|sweeps/[\w.]+|[\w-]+)(.*)")


def other_commands() -> list[tuple[str, str, str, str]]:
    """(where, tool, target, rest) of every ``make <target>``, ``wandb sweep <file>`` and
    ``python benchmarks/<script>.py`` command shown."""
    found = []
    for doc in DOCS:
        for line in _logical_lines(doc.read_text()):
            if m := OTHER_COMMAND.search(line.split(" #")[0]):
                if m[1] != "python" or m[2].startswith("benchmarks/"):
                    found.append((f"{doc.name}: {line.strip()[:90]}", m[1], m[2], m[3]))
    return found


def test_the_pages_show_make_wandb_and_benchmark_commands():
    tools = {tool for _, tool, _, _ in other_commands()}
    assert tools == {"make", "wandb sweep", "python"}


@pytest.mark.parametrize(
    ("where", "tool", "target", "rest"), other_commands(), ids=[c[0] for c in other_commands()]
)
def test_other_documented_command_names_what_exists(where, tool, target, rest):
    """A make target the Makefile defines; a sweep file or benchmark script that exists, given only options
    its source defines."""
    if tool == "make":
        assert re.search(rf"^{re.escape(target)}:", (REPO / "Makefile").read_text(), re.M), (
            f"{where}: no target"
        )
        return
    assert (REPO / target).is_file(), f"{where}: {target} does not exist"
    source = (REPO / target).read_text()
    for option in re.findall(r"(?<![\w-])--[\w-]+", rest):
        assert f'"{option}"' in source, f"{where}: {target} has no option {option}"
