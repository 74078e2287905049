"""Reading a manifest file (CSV, TSV or JSONL) into numbered rows."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

DELIMITERS: dict[str, str] = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".ndjson")
MAX_REASONS_IN_ERROR = 5


def _not_utf8(text: str) -> str | None:
    """The first byte that was not UTF-8 (read with ``surrogateescape``) as ``0x..``, or None."""
    bad = next((c for c in text if "\udc80" <= c <= "\udcff"), None)
    return None if bad is None else f"0x{ord(bad) - 0xDC00:02x}"


def read_manifest(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any] | str]]]:
    """(columns, [(row number, row dict, or the fault of a malformed row)]) of a CSV/TSV/JSONL file.

    A row holding bytes that are not UTF-8 is a malformed row (the others go on); such a header is an error.
    """
    suffix = path.suffix.lower()
    rows: list[tuple[int, dict[str, Any] | str]] = []
    # -sig: spreadsheets often write a BOM; surrogateescape: a stray byte marks its row, not the whole file
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        if suffix in DELIMITERS:
            reader = csv.reader(f, delimiter=DELIMITERS[suffix])
            columns = [c.strip() for c in next(reader, [])]
            if any(_not_utf8(c) for c in columns):
                raise ValueError(f"{path}, line 1: the header is not UTF-8 text (save the file as UTF-8)")
            if len(set(columns)) != len(columns):
                raise ValueError(f"{path}: repeated column names in the header {columns}")
            line = reader.line_num
            for fields in reader:
                rowno, line = line + 1, reader.line_num  # a row's number is its first line
                bad = next(
                    ((c, b) for c, v in zip(columns, fields, strict=False) if (b := _not_utf8(v))), None
                )
                if bad:
                    rows.append((rowno, f"not UTF-8 text: byte {bad[1]} in column {bad[0]!r}"))
                elif fields and len(fields) != len(columns):
                    rows.append((rowno, f"{len(fields)} fields, the header has {len(columns)}"))
                elif fields:
                    rows.append((rowno, dict(zip(columns, fields, strict=True))))
        elif suffix in JSONL_SUFFIXES:
            columns = []
            for rowno, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                if bad := _not_utf8(text):
                    rows.append((rowno, f"not UTF-8 text: byte {bad}"))
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as e:
                    rows.append((rowno, f"not JSON ({e.msg})"))
                    continue
                if not isinstance(obj, dict):
                    rows.append((rowno, f"a JSON {type(obj).__name__}, not an object"))
                    continue
                row = {str(k).strip(): v for k, v in obj.items()}
                columns += [k for k in row if k not in columns]
                rows.append((rowno, row))
        else:
            raise ValueError(
                f"{path}: unknown manifest type; use {', '.join([*DELIMITERS, *JSONL_SUFFIXES])}"
            )
    return columns, rows


def value(row: dict[str, Any], key: str) -> Any:
    """The row's value for ``key``; None when absent, null or blank."""
    v = row.get(key)
    if isinstance(v, str):
        v = v.strip()
    return None if v in (None, "") else v


def number(v: Any, what: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{what}={v!r} is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{what}={v!r} must be a finite number >= 0")
    return x
