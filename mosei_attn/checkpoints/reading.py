"""Reading a checkpoint written by ``mosei_attn.train``: the file checked (kind, CRC of every member), the run
config it records, and the network it holds."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from mosei_attn.errors import UserFault

#: Key under which a checkpoint stores the run config (resolved): what the run trained, where and how.
CONFIG_KEY = "mosei_attn_config"
#: How a file written by ``torch.save`` starts: a zip archive (the default format), or a pickle (legacy).
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")
#: Values of a ``key=`` argument that mean "none given".
NO_VALUE = ("", "null", "None")


class CheckpointError(UserFault, ValueError):
    """A file that is not a readable checkpoint: another kind of file, or a damaged one. Names the file."""


def checkpoint_fault(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be a checkpoint (no such file, a folder, another kind of file), or None. Reads 4
    bytes."""
    p = Path(path)
    if not p.exists():
        return "no such file"
    if not p.is_file():
        return "not a file"
    with open(p, "rb") as f:
        head = f.read(4)
    if head.startswith(CHECKPOINT_MAGIC):
        return None
    kind = {b"RIFF": " (a WAV file)", b"fLaC": " (a FLAC file)"}.get(head, "")
    return f"not a PyTorch checkpoint{kind}: it starts with {head!r}, not a torch.save archive"


def checked_ckpt_arg(argv: list[str], key: str = "ckpt_path") -> str | None:
    """The ``ckpt_path=`` value of a command line, after checking it names a checkpoint file; exits with a
    message naming the file otherwise, before Hydra creates any folder."""
    value = None
    for arg in argv[1:]:
        k, eq, v = arg.lstrip("+").partition("=")
        if eq and k == key:
            value = v.strip("'\"")
    if value is None or value in NO_VALUE:
        return None
    fault = checkpoint_fault(value)
    if fault:
        raise SystemExit(
            f"{key}={value}: {fault}. Nothing was written; give a .ckpt file written by training"
        )
    return value


def verify_archive(path: str | os.PathLike) -> None:
    """Refuse (CheckpointError) a zip checkpoint any member of which fails its CRC (reads the whole file)."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: damaged checkpoint: not a readable zip archive ({e})") from e
    if bad is not None:
        raise CheckpointError(
            f"{path}: damaged checkpoint: the bytes of {bad} fail their CRC check (a bad disk, a truncated "
            "or altered copy); use another checkpoint of the run, or train again"
        )


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The contents of a checkpoint file (tensors on the CPU) after checking the archive's CRCs; a missing,
    damaged or other kind of file is an error naming it, never an unpickling traceback or wrong weights."""
    import torch

    fault = checkpoint_fault(path)
    if fault == "no such file":
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if fault:
        raise CheckpointError(f"{path}: {fault}")
    if zipfile.is_zipfile(path):
        verify_archive(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as e:  # a damaged archive fails deep inside torch's unpickler
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from e


def recorded_config(ckpt_path: str | os.PathLike, ckpt: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run config a checkpoint records (``ckpt``, its contents where already read, else read and
    CRC-checked by :func:`read_checkpoint`); CheckpointError naming the file where it records none."""
    run_cfg = (read_checkpoint(ckpt_path) if ckpt is None else ckpt).get(CONFIG_KEY)
    if run_cfg is None:
        raise CheckpointError(
            f"{ckpt_path}: no '{CONFIG_KEY}' entry: not a checkpoint written by mosei_attn.train"
        )
    return run_cfg


def load_checkpoint(ckpt_path: str | os.PathLike, map_location: str = "cpu") -> tuple[Any, Any]:
    """The model (a LightningModule) and the run config (a DictConfig) a checkpoint holds."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    ckpt_path = Path(ckpt_path)
    run_cfg = OmegaConf.create(recorded_config(ckpt_path))  # a missing, foreign or damaged file is named
    cls = get_class(run_cfg.model._target_)
    try:
        model = cls.load_from_checkpoint(ckpt_path, map_location=map_location, weights_only=False)
    except RuntimeError as e:  # load_state_dict: the stored weights do not fit the network built today
        if "size mismatch" not in str(e):
            raise
        detail = next(line.strip() for line in str(e).splitlines() if "size mismatch" in line)
        raise CheckpointError(
            f"{ckpt_path}: its weights do not fit today's {cls.__name__} ({detail}); it was written by an "
            "older mosei_attn whose network differed: train it again"
        ) from None
    return model, run_cfg


def rebase_paths(cfg: Any, old: str, new: str) -> Any:
    """A plain config (dict) with every string value that is a path inside folder ``old`` moved into folder
    ``new`` (a config recorded by a checkpoint, read where its data or run folder is now)."""
    old_dir, new_dir = Path(old).absolute(), Path(new).absolute()
    if old_dir == new_dir:
        return cfg

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        is_path = isinstance(value, str) and ("/" in value or value == old)  # not a name or a target
        if is_path and Path(value).absolute().is_relative_to(old_dir):
            return str(new_dir / Path(value).absolute().relative_to(old_dir))
        return value

    return move(cfg)
