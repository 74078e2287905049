"""Small helpers shared by the entry points: config resolvers, seeding, W&B mode, JSON output."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mosei_attn.io import atomic_path

log = logging.getLogger(__name__)

#: Where the project's Hydra configs live (top-level `conf/`, beside the package).
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def resume_dir(ckpt_path: str | None, default: str) -> str:
    """Run folder for a run: the checkpoint's own run folder when resuming, else ``default``."""
    if ckpt_path in (None, "", "None", "null"):
        return default
    ckpt = Path(str(ckpt_path))
    return str(ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent)


def model_name(target: str) -> str:
    """Short model name of a LightningModule's ``_target_``: ``...AttentionModule`` -> ``attention``."""
    return target.rsplit(".", 1)[-1].removesuffix("Module").lower()


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("resume_dir"):
        OmegaConf.register_new_resolver("resume_dir", resume_dir)


register_resolvers()


def wandb_offline_default() -> bool:
    """W&B runs offline unless the user configured it (an API key, a login, or WANDB_MODE)."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"] in ("offline", "dryrun", "disabled")
    if os.environ.get("WANDB_API_KEY"):
        return False
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return not (netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"))


def to_container(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg


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
    (columns: the union, in order of appearance)."""
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
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    for part in parts:
        part.unlink()
    return path
