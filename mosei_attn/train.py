"""Train a model: ``python -m mosei_attn.train model=attention`` (see conf/train.yaml).

``train(cfg)`` is a plain function (tests call it); ``main`` only wraps it for Hydra and returns the metric a
sweeper optimises. With ``ckpt_path=`` it resumes that run with the settings its checkpoint records
(:mod:`mosei_attn.checkpoints.resume`). Launch plumbing (DDP children, SLURM ranks, optional plugins) is in
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
from omegaconf import DictConfig

from mosei_attn.checkpoints.reading import NO_VALUE, checked_ckpt_arg
from mosei_attn.checkpoints.resume import hpc_checkpoint, resumed_config
from mosei_attn.config import CONFIG_DIR, quote_args
from mosei_attn.errors import discarded_on_user_fault, user_errors
from mosei_attn.models.naming import model_name
from mosei_attn.process import process_setup
from mosei_attn.signatures import register_signatures
from mosei_attn.training.build import (
    build_datamodule,
    build_model,
    check_optimizer,
    is_rank_zero,
    prepare_on_rank_zero,
)
from mosei_attn.training.checks import check_run_settings
from mosei_attn.training.history import keep_csv_history, merge_csv_history
from mosei_attn.training.launch import job_scope, launch_argv
from mosei_attn.training.report import report_curves, test_best
from mosei_attn.training.run_owner import owned_run_dir
from mosei_attn.training.signals import sigterm_exits_nonzero
from mosei_attn.training.trainer import build_trainer

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit, then evaluate the best checkpoint on the validation and test splits; returns (metrics, objects)
    and writes the run folder."""
    if cfg.get("ckpt_path"):  # the run's recorded settings, before anything is written
        cfg = resumed_config(cfg)
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
    # a requeued SLURM job resumes from the run folder's hpc_ckpt_*.ckpt without a ckpt_path
    resuming = bool(cfg.get("ckpt_path")) or hpc_checkpoint(cfg.trainer.get("default_root_dir") or out_dir)
    if resuming and is_rank_zero():
        keep_csv_history(out_dir)  # Lightning's CSV logger would delete the epochs logged before the resume
    trainer, loggers = build_trainer(cfg, datamodule)

    name = model_name(cfg.model)
    log.info("training %s on %s (%s); run folder %s", name, datamodule.name, meta.label_rule, out_dir)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if trainer.is_global_zero and cfg.figures:
        report_curves(out_dir, f"{name} on {datamodule.name}", meta, loggers)
    if cfg.get("test"):
        metrics |= test_best(cfg, trainer, model, datamodule, loggers, name, metrics.get("val/ua_best"))
    if resuming and trainer.is_global_zero:
        for lg in loggers:
            lg.save()
        merge_csv_history(out_dir)
    return metrics, {"model": model, "datamodule": datamodule, "trainer": trainer, "output_dir": out_dir}


register_signatures()  # before Hydra composes: every argument's default (mosei_attn/signatures.py)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    process_setup()  # malloc and warning filters for this process (not at import)
    out_dir, rank_zero = cfg.paths.output_dir, is_rank_zero()
    owned = owned_run_dir(out_dir) if rank_zero else contextlib.nullcontext()
    discard = discarded_on_user_fault(out_dir) if rank_zero else contextlib.nullcontext()
    # a user's mistake is one line (errors.UserFault), a bug a traceback
    with user_errors(), discard, job_scope(cfg), owned, sigterm_exits_nonzero(out_dir, rank_zero):
        metrics, _ = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


def cli() -> None:
    """``python -m mosei_attn.train`` and the ``mosei-attn-train`` console script."""
    checked_ckpt_arg(sys.argv)  # a bad ckpt_path stops here, before Hydra creates the run folder
    # checked as typed, then quoted for Hydra: a path may hold non-ASCII letters, commas or quotes
    sys.argv = launch_argv(quote_args(sys.argv, ("ckpt_path",), keep=NO_VALUE))
    main()


if __name__ == "__main__":
    cli()
