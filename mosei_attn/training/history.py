"""A resumed run's ``metrics.csv``: Lightning's CSV logger starts it afresh, so the earlier epochs are kept
aside and joined back when the run ends."""

from __future__ import annotations

import os
from pathlib import Path

from mosei_attn.files import atomic_path


def keep_csv_history(run_dir: str | os.PathLike, name: str = "metrics.csv") -> Path | None:
    """Move a run's earlier ``metrics.csv`` aside before a resumed run's CSV logger deletes it."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    parts = sorted(Path(run_dir).glob(f"{path.stem}.part*.csv"))
    aside = path.with_name(f"{path.stem}.part{len(parts):03d}.csv")
    os.replace(path, aside)
    return aside


def merge_csv_history(run_dir: str | os.PathLike, name: str = "metrics.csv") -> Path | None:
    """Join the parts kept by :func:`keep_csv_history` and the resumed run's rows into one ``metrics.csv``
    (columns: the union, in order of appearance). A row that repeats an earlier one exactly is kept once: a
    run resumed from the end of an epoch logs that epoch's starting learning rate again, at the same step."""
    import csv

    path = Path(run_dir) / name
    parts = sorted(Path(run_dir).glob(f"{path.stem}.part*.csv"))
    if not parts:
        return None
    rows: list[dict[str, str]] = []
    for part in [*parts, path]:
        if part.is_file():
            with open(part, newline="") as f:
                rows.extend(csv.DictReader(f))
    keys = list(dict.fromkeys(k for row in rows for k in row))
    seen: set[tuple[str, ...]] = set()
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            values = tuple(row.get(k) or "" for k in keys)
            if values not in seen:
                seen.add(values)
                writer.writerow(row)
    for part in parts:
        part.unlink()
    return path
