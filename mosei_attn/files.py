"""Files written whole or not at all: a temporary name beside the target, renamed when complete."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temp_name(path: Path) -> Path:
    """The temporary name ``path`` is written under: ``<name>.tmp-<pid>`` (concurrent writers keep apart)."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` under; it is renamed to ``path`` when the block ends and
    deleted when the block raises, so a killed or failed write never leaves a file that looks finished."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically; numpy arrays and scalars, tensors and paths are
    converted."""
    return write_text(path, json.dumps(obj, indent=2, default=to_json) + "\n")


def to_json(x: Any) -> Any:
    """JSON form of what ``json`` cannot write itself: arrays and tensors as lists, paths as strings."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
