"""The run's loggers from ``cfg.logger`` (CSV, TensorBoard, W&B), each built from its ``_target_``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mosei_attn.config import to_container
from mosei_attn.models.naming import model_name

#: Length of the W&B run ids we choose (W&B's own length).
WANDB_ID_LENGTH = 8


def build_loggers(cfg: DictConfig) -> list[Any]:
    """The loggers of ``cfg.logger``. A W&B run is grouped by sweep (``sweep_name``, else the multirun folder's
    name, else ``task_name``), typed by model, tagged with model and seed, and records the job's overrides."""
    loggers = []
    for name, lg_cfg in (cfg.get("logger") or {}).items():
        if not lg_cfg or "_target_" not in lg_cfg:
            continue
        loggers.append(_wandb_logger(cfg, lg_cfg) if name == "wandb" else instantiate(lg_cfg))
    return loggers


def _wandb_logger(cfg: DictConfig, lg_cfg: DictConfig) -> Any:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    lg_cfg = OmegaConf.merge(lg_cfg, {"offline": lg_cfg.get("offline")})
    if lg_cfg.offline is None:
        lg_cfg.offline = wandb_offline_default()
    if lg_cfg.get("group") is None:
        in_sweep = hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN
        lg_cfg.group = Path(hydra_cfg.sweep.dir).name if in_sweep else str(cfg.task_name)
    lg_cfg.tags = [*(lg_cfg.get("tags") or []), model_name(cfg.model), f"seed={cfg.seed}"]
    overrides = list(hydra_cfg.overrides.task) if hydra_cfg is not None else []
    config = to_container(cfg) | {"overrides": overrides, "wandb_group": lg_cfg.group}
    # `config` is also the name of instantiate()'s first parameter: pass it to the partial instead.
    make = instantiate(lg_cfg, _partial_=True, _convert_="all")
    return make(id=wandb_run_id(Path(cfg.paths.output_dir)) or None, resume="allow", config=config)


def wandb_run_id(run_dir: Path) -> str:
    """The run folder's W&B run id. Resuming, a requeued SLURM job and every DDP rank continue one W&B run: its
    id lives in the run folder, chosen by global rank 0 (other ranks log nothing to W&B); a W&B sweep agent
    gives its own. Empty on ranks > 0 before rank 0 wrote it."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    id_file = run_dir / "wandb_run_id"
    run_id = id_file.read_text().strip() if id_file.is_file() else ""
    if not run_id and rank_zero_only.rank == 0:
        run_id = os.environ.get("WANDB_RUN_ID") or uuid.uuid4().hex[:WANDB_ID_LENGTH]
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(run_id + "\n")
    return run_id


def wandb_offline_default() -> bool:
    """W&B runs offline unless the user configured it (an API key, a login, or WANDB_MODE)."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"] in ("offline", "dryrun", "disabled")
    if os.environ.get("WANDB_API_KEY"):
        return False
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return not (netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"))
