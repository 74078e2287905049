"""The run's loggers from ``cfg.logger`` (CSV, TensorBoard, W&B), each built from its ``_target_``."""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mosei_attn.config import to_container
from mosei_attn.models.naming import model_name

log = logging.getLogger(__name__)

#: Length of the W&B run ids we choose (W&B's own length).
WANDB_ID_LENGTH = 8
#: W&B summaries of per-epoch metrics (``wandb.define_metric``): the best value of the run.
SUMMARIES = {"val/ua": "max", "val/ua_best": "max", "val/loss": "min"}


def build_loggers(cfg: DictConfig) -> list[Any]:
    """The loggers of ``cfg.logger``. A W&B run is grouped by sweep (``sweep_name``, else the multirun
    folder's name, else ``task_name``), typed by model, tagged with model and seed, and records the job's
    overrides."""
    loggers = []
    for name, lg_cfg in (cfg.get("logger") or {}).items():
        if not lg_cfg or "_target_" not in lg_cfg:
            continue
        loggers.append(_wandb_logger(cfg, lg_cfg) if name == "wandb" else _quiet(instantiate(lg_cfg)))
    return loggers


def _quiet(logger: Any) -> Any:
    """``logger``, its writer made now without Lightning's "Previous log files in this directory will be
    deleted" (the CSV logger says it of any non-empty run folder, e.g. a fresh run's ``.hydra/``; a resumed
    run keeps its earlier epochs: training.history)."""
    if type(logger).__name__ == "CSVLogger":
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*Previous log files in this directory will be deleted"
            )
            logger.experiment  # noqa: B018  (creates the writer)
    return logger


def _wandb_logger(cfg: DictConfig, lg_cfg: DictConfig) -> Any:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    lg = OmegaConf.to_container(lg_cfg, resolve=True)  # a copy: the run's own config stays as composed
    assert isinstance(lg, dict)
    init_timeout = lg.pop("init_timeout", None)  # W&B's setting, not a WandbLogger argument
    # wandb.init's own mode argument: WandbLogger's `offline` would set WANDB_MODE for the whole process
    offline = bool(lg.pop("offline", False))
    if lg.get("group") is None:
        in_sweep = hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN
        lg["group"] = Path(hydra_cfg.sweep.dir).name if in_sweep else str(cfg.task_name)
    lg["tags"] = [*(lg.get("tags") or []), model_name(cfg.model), f"seed={cfg.seed}"]
    overrides = list(hydra_cfg.overrides.task) if hydra_cfg is not None else []
    config = to_container(cfg) | {"overrides": overrides, "wandb_group": lg["group"]}
    # `config` is also the name of instantiate()'s first parameter: pass it to the partial instead.
    make = instantiate(lg, _partial_=True, _convert_="all")
    kwargs = {"id": wandb_run_id(Path(cfg.paths.output_dir)) or None, "resume": "allow", "config": config}
    if offline:
        kwargs["mode"] = "offline"
    return start_wandb(make, kwargs, init_timeout)


def start_wandb(make: Callable[..., Any], kwargs: dict[str, Any], init_timeout: float | None) -> Any:
    """A ``WandbLogger`` (``make(**kwargs)``) whose W&B run is started now, on global rank 0, so that a server
    that cannot be reached is known before training. Online or offline is W&B's own decision (``WANDB_MODE``,
    ``wandb offline``, ``WANDB_BASE_URL``, ``WANDB_API_KEY``, ``wandb login``); ``mode="offline"`` in
    ``kwargs`` forces offline. When the run cannot start online within ``init_timeout`` seconds (W&B's
    ``Settings.init_timeout``; no login, no network), the run goes on offline after one warning."""
    import wandb

    from mosei_attn.training.build import is_rank_zero

    if init_timeout is not None:
        kwargs = kwargs | {"settings": wandb.Settings(init_timeout=float(init_timeout))}
    logger = make(**kwargs)
    if not is_rank_zero():  # other ranks log nothing to W&B (Lightning gives them a dummy run)
        return logger
    try:
        define_summaries(logger.experiment)
    except wandb.errors.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.warning(
            "W&B could not start online (%s): logging offline to sync later; "
            "set WANDB_MODE=offline to skip trying",
            first,
        )
        # checkpoint artifacts need a server: WandbLogger refuses log_model together with offline
        logger = make(**(kwargs | {"mode": "offline"}), log_model=False)
        define_summaries(logger.experiment)
    return logger


def define_summaries(run: Any) -> None:
    """How W&B summarises a run's history (``wandb.define_metric``): per-epoch figures against ``epoch``; the
    best ``val/ua`` and ``val/ua_best`` (max) and the lowest ``val/loss`` (min). The figures *at* the best
    epoch (``best/val/wa`` ...; define_metric cannot pick one metric at another's best) are written when the
    run ends, from the best checkpoint (:func:`mosei_attn.reporting.figures.log_best_summary`)."""
    run.define_metric("epoch")
    for pattern in ("train/*", "val/*", "test/*"):
        run.define_metric(pattern, step_metric="epoch")
    for name, summary in SUMMARIES.items():
        run.define_metric(name, step_metric="epoch", summary=summary)


def wandb_run_id(run_dir: Path) -> str:
    """The run folder's W&B run id. Resuming, a requeued SLURM job and every DDP rank continue one W&B run:
    its id lives in the run folder, chosen by global rank 0 (other ranks log nothing to W&B); a W&B sweep
    agent gives its own. Empty on ranks > 0 before rank 0 wrote it."""
    from mosei_attn.training.build import is_rank_zero

    id_file = run_dir / "wandb_run_id"
    run_id = id_file.read_text().strip() if id_file.is_file() else ""
    if not run_id and is_rank_zero():
        run_id = os.environ.get("WANDB_RUN_ID") or uuid.uuid4().hex[:WANDB_ID_LENGTH]
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(run_id + "\n")
    return run_id
