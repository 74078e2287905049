"""Train a model: ``python -m mosei_attn.train model=attention`` (see conf/train.yaml).

``train(cfg)`` is a plain function (tests call it); ``main`` only wraps it for Hydra and returns the metric a
sweeper optimises.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from mosei_attn import report
from mosei_attn.callbacks import ConfigInCheckpoint
from mosei_attn.resume import check_resume, resume_argv
from mosei_attn.utils import (
    CONFIG_DIR,
    keep_csv_history,
    merge_csv_history,
    model_name,
    to_container,
    wandb_offline_default,
)

log = logging.getLogger(__name__)

#: Length of the W&B run ids we choose (W&B's own length).
WANDB_ID_LENGTH = 8
#: Command-line prefixes that need an optional extra: (module to import, ``pip install -e .[extra]``).
EXTRAS: dict[str, tuple[str, str]] = {
    "hparams_search=": ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
    "hydra/sweeper=optuna": ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
    "hydra/launcher=slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "hydra/launcher=submitit": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
}
#: Environment variables rank 0 leaves for Lightning's DDP child processes (inherited by them).
RUN_DIR_ENV, OVERRIDES_ENV = "MOSEI_ATTN_RUN_DIR", "MOSEI_ATTN_OVERRIDES"
#: What Lightning's DDP launcher sets in the launching process.
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def trainer_is_rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return rank_zero_only.rank == 0


def build_datamodule(data_cfg: DictConfig) -> L.LightningDataModule:
    return instantiate(data_cfg, _convert_="all")


def prepare(datamodule: Any, timeout_s: float = 3600.0) -> None:
    """Prepare the corpus and cache on global rank 0; other ranks wait for it (DDP, SLURM)."""
    if trainer_is_rank_zero():
        datamodule.prepare_data()
        return
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            datamodule.setup("fit")
            return
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(5)


def hpc_checkpoint(folder: str | os.PathLike) -> bool:
    """Whether Lightning will restore a SLURM requeue checkpoint (``hpc_ckpt_<n>.ckpt`` in ``folder``)."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect() and any(Path(folder).glob("hpc_ckpt_*.ckpt"))


def build_model(cfg: DictConfig, meta: dict[str, Any]) -> L.LightningModule:
    """The LightningModule of ``cfg.model`` with the data's metadata and plain-dict optimizer configs."""
    kwargs = to_container(cfg.model)
    cls = get_class(kwargs.pop("_target_"))
    scheduler = to_container(cfg.scheduler) if cfg.get("scheduler") else None
    return cls(meta=meta, optimizer=to_container(cfg.optimizer), scheduler=scheduler, **kwargs)


def build_loggers(cfg: DictConfig) -> list[Any]:
    """The loggers of ``cfg.logger``. A W&B run is grouped by sweep (``sweep_name``, else the multirun folder's
    name, else ``task_name``), typed by model, tagged with model and seed, and records the job's overrides."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    loggers = []
    for name, lg_cfg in (cfg.get("logger") or {}).items():
        if not lg_cfg or "_target_" not in lg_cfg:
            continue
        if name == "wandb":
            lg_cfg = OmegaConf.merge(lg_cfg, {"offline": lg_cfg.get("offline")})
            if lg_cfg.offline is None:
                lg_cfg.offline = wandb_offline_default()
            if lg_cfg.get("group") is None:
                in_sweep = hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN
                lg_cfg.group = Path(hydra_cfg.sweep.dir).name if in_sweep else str(cfg.task_name)
            model = model_name(cfg.model._target_)
            lg_cfg.tags = [*(lg_cfg.get("tags") or []), model, f"seed={cfg.seed}"]
            # Resuming, a requeued SLURM job and every DDP rank continue one W&B run: its id lives in the run
            # folder, chosen by global rank 0 (other ranks log nothing to W&B); a W&B sweep agent gives its own.
            id_file = Path(cfg.paths.output_dir) / "wandb_run_id"
            run_id = id_file.read_text().strip() if id_file.is_file() else ""
            if not run_id and rank_zero_only.rank == 0:
                run_id = os.environ.get("WANDB_RUN_ID") or uuid.uuid4().hex[:WANDB_ID_LENGTH]
                id_file.parent.mkdir(parents=True, exist_ok=True)
                id_file.write_text(run_id + "\n")
            overrides = list(hydra_cfg.overrides.task) if hydra_cfg is not None else []
            config = to_container(cfg) | {"overrides": overrides, "wandb_group": lg_cfg.group}
            kwargs = to_container(lg_cfg)  # not instantiate(): its first parameter is also called `config`
            lg = get_class(kwargs.pop("_target_"))(**kwargs, id=run_id or None, resume="allow", config=config)
        else:
            lg = instantiate(lg_cfg)
        loggers.append(lg)
    return loggers


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit, then test the best checkpoint; returns (metrics, objects) and writes the run folder."""
    if cfg.get("ckpt_path"):
        check_resume(cfg)  # before anything is written
    L.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    datamodule = build_datamodule(cfg.data)
    prepare(datamodule)
    datamodule.setup("fit")
    datamodule.require_splits("train", "val", *(["test"] if cfg.get("test") else []))
    meta = datamodule.meta
    model = build_model(cfg, meta.to_dict())
    name = model_name(cfg.model._target_)

    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    callbacks.append(ConfigInCheckpoint(to_container(cfg)))
    # a requeued SLURM job resumes from the run folder's hpc_ckpt_*.ckpt without a ckpt_path
    resuming = bool(cfg.get("ckpt_path")) or hpc_checkpoint(cfg.trainer.get("default_root_dir") or out_dir)
    if resuming and trainer_is_rank_zero():
        keep_csv_history(out_dir)  # Lightning's CSV logger would delete the epochs logged before the resume
    loggers = build_loggers(cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for lg in loggers:
        if lg.__class__.__name__ != "WandbLogger":  # W&B got the config at init
            lg.log_hyperparams(to_container(cfg))

    log.info("training %s on %s (%s); run folder %s", name, datamodule.name, meta.label_rule, out_dir)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}

    # the checkpoint callback that monitors val/ua (the other one keeps last.ckpt)
    ckpt_cb = next((c for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None)), None)
    best = ckpt_cb.best_model_path if ckpt_cb is not None and ckpt_cb.best_model_path else None
    if cfg.get("test"):
        # The best checkpoint when one was saved (fast_dev_run saves none: then the final weights).
        trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=False)
        if trainer.is_global_zero:
            extra = {
                "best_checkpoint": best,
                "val/ua_best": metrics.get("val/ua_best"),
                "label_rule": meta.label_rule,
                "data": datamodule.name,
                "class_counts_train": list(meta.class_counts),
                "epochs": trainer.current_epoch,
                "optimized_metric": cfg.get("optimized_metric"),
            }
            summary, _ = report.write_report(
                model.test_results,
                meta.emotion_names,
                out_dir,
                "test",
                name,
                extra=extra,
                title=f"test split, best checkpoint {Path(best).name if best else '(last weights)'}",
            )
            metrics |= {k: v for k, v in summary.items() if isinstance(v, float)}
            figs = report.training_figures(model, datamodule, out_dir)
            report.log_figures(loggers, [Path(p) for p in summary["figures"].values()] + figs)
    if resuming and trainer.is_global_zero:
        for lg in loggers:
            lg.save()
        merge_csv_history(out_dir)
    return metrics, {"model": model, "datamodule": datamodule, "trainer": trainer, "output_dir": out_dir}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    # Lightning's DDP launcher re-runs this command line for ranks > 0: they take this job's folder and overrides
    # (see launch_argv), so a sweep job is not re-swept and one run writes one folder.
    os.environ[RUN_DIR_ENV] = str(Path(cfg.paths.output_dir).resolve())
    os.environ[OVERRIDES_ENV] = json.dumps(list(HydraConfig.get().overrides.task))
    # A sweep runs its jobs in this process, so each job ends what it started: Lightning's DDP launcher leaves its
    # rank variables here (the next job would take them as "launched externally" and wait for ranks that never
    # start), the DDP process group, and the W&B run.
    saved_env = {k: os.environ.get(k) for k in DDP_ENV}
    try:
        metrics, _ = train(cfg)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        if getattr(sys.modules.get("wandb"), "run", None) is not None:
            sys.modules["wandb"].finish()  # else the next job's WandbLogger would log into this run
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


def launch_argv(argv: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """The command line Hydra should parse. Exits with the extra to install when an override needs a missing
    optional plugin; gives a Lightning DDP child (LOCAL_RANK > 0) rank 0's job and run folder, as one run;
    under ``srun`` / ``torchrun`` (several processes), asks for a fixed ``hydra.run.dir`` and keeps ranks > 0
    out of ``.hydra/``."""
    for arg in argv[1:]:
        key = arg.lstrip("+~")
        for module, extra in [v for prefix, v in EXTRAS.items() if key.startswith(prefix)]:
            if not key.endswith(("=null", "=None")) and not _importable(module):
                raise SystemExit(
                    f"{arg} needs the optional extra [{extra}], not installed: "
                    f"pip install -e '.[{extra}]' (module {module})"
                )
    local_rank = int(environ.get("LOCAL_RANK") or 0)
    if local_rank > 0 and environ.get(RUN_DIR_ENV):
        run_dir = environ[RUN_DIR_ENV].replace('"', '\\"')
        return [
            argv[0],
            *json.loads(environ[OVERRIDES_ENV]),
            f'hydra.run.dir="{run_dir}"',
            "hydra.mode=RUN",
            "hydra.output_subdir=null",
            f"hydra.job.name=train_ddp_process_{local_rank}",
        ]
    # Processes started by srun or torchrun each compose their own config: a timestamped folder would differ.
    if int(environ.get("SLURM_STEP_NUM_TASKS") or environ.get("WORLD_SIZE") or 1) > 1:
        if not any(a.startswith(("hydra.run.dir=", "ckpt_path=")) for a in argv[1:]):
            raise SystemExit(
                "several processes (srun, torchrun): give them all the same run folder, e.g. "
                "hydra.run.dir=lightning_logs/train/slurm-$SLURM_JOB_ID (see the README, SLURM)"
            )
        rank = int(environ.get("SLURM_PROCID") or environ.get("RANK") or 0)
        if rank > 0:
            return [*argv, "hydra.output_subdir=null", f"hydra.job.name=train_rank{rank}"]
    return argv


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


if __name__ == "__main__":
    # Hydra's short messages (HYDRA_FULL_ERROR=1 shows the whole trace); a resume gets its run's settings.
    sys.argv = launch_argv(resume_argv(sys.argv))
    main()
