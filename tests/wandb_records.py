"""Reads an offline W&B run file (``<run>/wandb/offline-run-*/run-*.wandb``) back without a server or
``wandb.Api``: the file is a LevelDB-style log of protobuf ``Record`` messages (wandb's own
``wandb_internal_pb2``): a 7-byte header, then 32 KiB blocks of chunks, each with a 7-byte header (CRC,
length, type: full, first, middle, last)."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
FILE_HEADER = 7  # b":W&B", a 2-byte magic, a version byte
CHUNK_HEADER = 7  # CRC32 (4), length (2), type (1)
FULL, LAST = 1, 4


def records(path: Path) -> Iterator[Any]:
    """The ``Record`` messages of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B run file")
    pos, pending = FILE_HEADER, b""
    while pos + CHUNK_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK_HEADER:  # the rest of a block is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        if kind == 0 and length == 0:
            pos += left
            continue
        pending += data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def read_run(path: Path) -> dict[str, Any]:
    """``run_id`` and ``config`` (key -> value) of the run record, ``history`` (a list of dicts, one per
    ``wandb.log``), ``summary`` (the last value of each key), ``metrics`` (name or glob -> the
    ``define_metric`` record) and ``files`` (paths the run saved)."""
    out: dict[str, Any] = {
        "run_id": None,
        "config": {},
        "history": [],
        "summary": {},
        "metrics": {},
        "files": [],
    }
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["run_id"] = record.run.run_id
            out["config"] |= {_key(i): json.loads(i.value_json) for i in record.run.config.update}
        elif kind == "history":
            out["history"].append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            out["summary"] |= {_key(i): json.loads(i.value_json) for i in record.summary.update}
        elif kind == "metric":
            out["metrics"][record.metric.name or record.metric.glob_name] = record.metric
        elif kind == "files":
            out["files"] += [f.path for f in record.files.files]
    return out


def read_when_complete(run_file: Path, timeout_s: float = 60.0) -> dict[str, Any]:
    """``read_run`` once the file holds the run's ``exit`` record. ``wandb.finish`` can return before W&B's
    writer process has written the last records on a loaded machine: until then the file may be shorter
    than its header, end in a torn record, or lack the ``run`` record itself. It is read again each second
    until complete, never read half-written."""
    from google.protobuf.message import DecodeError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if run_file.stat().st_size >= FILE_HEADER and any(
                r.WhichOneof("record_type") == "exit" for r in records(run_file)
            ):
                return read_run(run_file)
        except DecodeError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run_file}: no exit record after {timeout_s:.0f} s")
        time.sleep(1.0)
