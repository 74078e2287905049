"""Checkpoints written whole or not at all: a temporary name beside the file, renamed when complete.

Lightning's own writer stages the file in the system's temporary folder and then copies it over the old
one, so a disk that fills during the copy leaves a truncated ``last.ckpt`` in place of the good one.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from mosei_attn.errors import no_space_named
from mosei_attn.files import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` that writes ``<name>.tmp-<pid>`` beside the checkpoint, flushes it to the disk
    and renames it: the previous file survives a failed write (a full disk is one :class:`DiskFullError`
    naming the folder and the size needed)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        data = buffer.getbuffer()
        with (
            no_space_named(path.parent, f"the checkpoint {path.name}", data.nbytes),
            atomic_path(path) as tmp,
            open(tmp, "wb") as f,
        ):
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
