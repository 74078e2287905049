"""Train a model: ``python -m mosei_attn.train model=attention`` (see conf/train.yaml).

``train(cfg)`` is a plain function (tests call it); ``main`` only wraps it for Hydra and returns the metric a
sweeper optimises. Launch plumbing (DDP children, SLURM ranks, optional plugins) is in
:mod:`mosei_attn.training.launch`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig

from mosei_attn.config import CONFIG_DIR, to_container
from mosei_attn.errors import user_errors
from mosei_attn.models.naming import model_name
from mosei_attn.process import process_setup
from mosei_attn.reporting import RunReport
from mosei_attn.training.build import (
    build_datamodule,
    build_model,
    check_optimizer,
    is_rank_zero,
    prepare_on_rank_zero,
)
from mosei_attn.training.callbacks import ConfigInCheckpoint
from mosei_attn.training.checkpoint_io import AtomicCheckpointIO
from mosei_attn.training.checks import check_run_settings
from mosei_attn.training.history import keep_csv_history, merge_csv_history
from mosei_attn.training.launch import job_scope, launch_argv
from mosei_attn.training.loggers import build_loggers
from mosei_attn.training.resume import check_resume, hpc_checkpoint, resume_argv
from mosei_attn.training.run_owner import owned_run_dir
from mosei_attn.training.signals import sigterm_exits_nonzero

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit, then evaluate the best checkpoint on the validation and test splits; returns (metrics, objects) and
    writes the run folder."""
    if cfg.get("ckpt_path"):
        check_resume(cfg)  # before anything is written
    check_optimizer(cfg)  # optimizer.lr=abc stops here, not after the data is prepared
    check_run_settings(cfg)  # seed=abc, data.batch_size=0 too
    L.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    datamodule = build_datamodule(cfg.data)
    prepare_on_rank_zero(datamodule)
    datamodule.setup("fit")
    datamodule.require_splits("train", "val", *(["test"] if cfg.get("test") else []))
    meta = datamodule.meta
    model = build_model(cfg, meta.to_dict())

    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    if cfg.get("weight_average"):  # the weights validated and checkpointed: their moving average
        callbacks.append(instantiate(cfg.weight_average))
    callbacks.append(ConfigInCheckpoint(to_container(cfg)))
    callbacks += datamodule.callbacks()  # what the data's extras need (a synthetic corpus: its cue metrics)
    # a requeued SLURM job resumes from the run folder's hpc_ckpt_*.ckpt without a ckpt_path
    resuming = bool(cfg.get("ckpt_path")) or hpc_checkpoint(cfg.trainer.get("default_root_dir") or out_dir)
    if resuming and is_rank_zero():
        keep_csv_history(out_dir)  # Lightning's CSV logger would delete the epochs logged before the resume
    loggers = build_loggers(cfg)
    if not loggers:  # the learning-rate monitor needs a logger to write to
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    # checkpoints are written to a temporary name and renamed: a failed write leaves the previous last.ckpt
    plugins = [AtomicCheckpointIO()]
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins
    )
    for lg in loggers:
        if lg.__class__.__name__ != "WandbLogger":  # W&B got the config at init
            lg.log_hyperparams(to_container(cfg))

    name = model_name(cfg.model)
    log.info("training %s on %s (%s); run folder %s", name, datamodule.name, meta.label_rule, out_dir)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    report = RunReport(out_dir, name, meta.emotion_names)
    if trainer.is_global_zero and (curves := report.curves(meta, title=f"{name} on {datamodule.name}")):
        report.send_figures(loggers, [curves])
    if cfg.get("test"):
        metrics |= test_best(cfg, trainer, model, datamodule, loggers, report, metrics.get("val/ua_best"))
    if resuming and trainer.is_global_zero:
        for lg in loggers:
            lg.save()
        merge_csv_history(out_dir)
    return metrics, {"model": model, "datamodule": datamodule, "trainer": trainer, "output_dir": out_dir}


def evaluate_best(
    trainer: L.Trainer, model: Any, datamodule: Any, best: str | None
) -> dict[str, dict[str, Any]]:
    """The results of the best checkpoint (``best``; None, as under fast_dev_run: the final weights) on the
    validation split, the paper's, and on the test split. The validation pass is kept out of the loggers: it
    is no new epoch of the per-epoch curves (its figures go to metrics.json); the test pass is logged."""
    loggers = trainer.loggers
    trainer.loggers = []
    try:
        trainer.validate(model, datamodule=datamodule, ckpt_path=best, weights_only=False, verbose=False)
    finally:
        trainer.loggers = loggers
    val = model.val_results
    trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=False)
    return {"val": val, "test": model.test_results}


def test_best(
    cfg: DictConfig,
    trainer: L.Trainer,
    model: Any,
    datamodule: Any,
    loggers: list[Any],
    report: RunReport,
    val_ua_best: float | None,
) -> dict[str, float]:
    """Evaluate the best checkpoint on the validation and test splits (:func:`evaluate_best`) and report it on
    rank 0; returns the reported figures."""
    # the checkpoint callback that monitors val/ua (the other one keeps last.ckpt)
    ckpt_cb = next((c for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None)), None)
    best = ckpt_cb.best_model_path if ckpt_cb is not None and ckpt_cb.best_model_path else None
    tables = evaluate_best(trainer, model, datamodule, best)
    if not trainer.is_global_zero:
        return {}
    meta = datamodule.meta
    extra = {
        "best_checkpoint": best,
        "val/ua_best": val_ua_best,
        "label_rule": meta.label_rule,
        "data": datamodule.name,
        "class_counts_train": list(meta.class_counts),
        "epochs": trainer.current_epoch,
        # the epoch of the best checkpoint that validate / test just loaded (without one: the last weights)
        "checkpoint_epoch": model.loaded_epoch if best else trainer.current_epoch,
        "optimized_metric": cfg.get("optimized_metric"),
    }
    title = f"best checkpoint {Path(best).name if best else '(last weights)'}"
    summary = report.metrics(tables, extra=extra, title=title)
    figures = report.training_figures(model, datamodule)
    report.send_figures(loggers, [*summary["figures"].values(), *figures])
    report.send_best_summary(loggers, summary)
    return {k: v for k, v in summary.items() if isinstance(v, float)}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    process_setup()  # malloc and warning filters for this process (not at import)
    owned = owned_run_dir(cfg.paths.output_dir) if is_rank_zero() else contextlib.nullcontext()
    # a user's mistake is one line (errors.UserFault), a bug a traceback
    with user_errors(), job_scope(cfg), owned, sigterm_exits_nonzero(cfg.paths.output_dir, is_rank_zero()):
        metrics, _ = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


def cli() -> None:
    """``python -m mosei_attn.train`` and the ``mosei-attn-train`` console script."""
    # Hydra's short messages (HYDRA_FULL_ERROR=1 shows the whole trace); a resume gets its run's settings.
    sys.argv = launch_argv(resume_argv(sys.argv))
    main()


if __name__ == "__main__":
    cli()
