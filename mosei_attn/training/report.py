"""A fitted run reported: its curves, and its best checkpoint evaluated on the validation split (the paper's)
and the test split, written as the paper's table, ``metrics.json``, confusion matrices and figures 2-3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig

from mosei_attn.reporting.figures import log_best_summary, log_figures, training_figures
from mosei_attn.reporting.run_report import write_report
from mosei_attn.reporting.sweep_plots import majority_wa, run_curves


def report_curves(out_dir: Path, title: str, meta: Any, loggers: list[Any]) -> None:
    """``curves.png`` of the run (losses, val WA and UA per epoch from its metrics.csv, best epoch marked, the
    majority-class WA of ``meta``'s training split as a line), sent to the loggers; none when no epoch was
    logged."""
    drawn = run_curves(out_dir, majority_wa(meta.class_counts, meta.multilabel), title=title)
    if drawn:
        log_figures(loggers, [drawn.path])


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
    name: str,
    val_ua_best: float | None,
) -> dict[str, float]:
    """Evaluate the best checkpoint on the validation and test splits (:func:`evaluate_best`) and report it on
    rank 0 into ``cfg.paths.output_dir`` (its PNG figures where ``cfg.figures``); returns the reported
    figures."""
    # the checkpoint callback that monitors val/ua (the other one keeps last.ckpt)
    ckpt_cb = next((c for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None)), None)
    best = ckpt_cb.best_model_path if ckpt_cb is not None and ckpt_cb.best_model_path else None
    tables = evaluate_best(trainer, model, datamodule, best)
    if not trainer.is_global_zero:
        return {}
    meta, out_dir = datamodule.meta, Path(cfg.paths.output_dir)
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
    summary, _ = write_report(
        tables, tuple(meta.emotion_names), out_dir, name, extra=extra, title=title, draw=cfg.figures
    )
    figures = training_figures(model, datamodule, out_dir) if cfg.figures else []
    log_figures(loggers, [Path(p) for p in [*summary["figures"].values(), *figures]])
    log_best_summary(loggers, summary)
    return {k: v for k, v in summary.items() if isinstance(v, float)}
