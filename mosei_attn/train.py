"""Train a model: ``python -m mosei_attn.train model=attention`` (see conf/train.yaml).

``train(cfg)`` is a plain function (tests call it); ``main`` only wraps it for Hydra and returns the metric a
sweeper optimises.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from mosei_attn import report
from mosei_attn.callbacks import ConfigInCheckpoint
from mosei_attn.utils import CONFIG_DIR, to_container, wandb_offline_default

log = logging.getLogger(__name__)


def build_datamodule(data_cfg: DictConfig) -> L.LightningDataModule:
    return instantiate(data_cfg, _convert_="all")


def prepare(datamodule: Any, timeout_s: float = 3600.0) -> None:
    """Prepare the corpus and cache on global rank 0; other ranks wait for it (DDP, SLURM)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank == 0:
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


def build_model(cfg: DictConfig, meta: dict[str, Any]) -> L.LightningModule:
    """The LightningModule of ``cfg.model`` with the data's metadata and plain-dict optimizer configs."""
    kwargs = to_container(cfg.model)
    cls = get_class(kwargs.pop("_target_"))
    scheduler = to_container(cfg.scheduler) if cfg.get("scheduler") else None
    return cls(meta=meta, optimizer=to_container(cfg.optimizer), scheduler=scheduler, **kwargs)


def build_loggers(cfg: DictConfig) -> list[Any]:
    loggers = []
    for name, lg_cfg in (cfg.get("logger") or {}).items():
        if not lg_cfg or "_target_" not in lg_cfg:
            continue
        if name == "wandb":
            lg_cfg = OmegaConf.merge(lg_cfg, {"offline": lg_cfg.get("offline")})
            if lg_cfg.offline is None:
                lg_cfg.offline = wandb_offline_default()
            # Resuming continues the same W&B run: its id is kept in the run folder.
            id_file = Path(cfg.paths.output_dir) / "wandb_run_id"
            run_id = id_file.read_text().strip() if id_file.is_file() else None
            lg = instantiate(lg_cfg, id=run_id, resume="allow" if run_id else None, config=to_container(cfg))
            id_file.parent.mkdir(parents=True, exist_ok=True)
            if not run_id:
                id_file.write_text(lg.version or "")
        else:
            lg = instantiate(lg_cfg)
        loggers.append(lg)
    return loggers


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit, then test the best checkpoint; returns (metrics, objects) and writes the run folder."""
    L.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    datamodule = build_datamodule(cfg.data)
    prepare(datamodule)
    datamodule.setup("fit")
    meta = datamodule.meta
    model = build_model(cfg, meta.to_dict())
    model_name = cfg.model._target_.rsplit(".", 1)[-1].removesuffix("Module").lower()

    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    callbacks.append(ConfigInCheckpoint(to_container(cfg)))
    loggers = build_loggers(cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for lg in loggers:
        if lg.__class__.__name__ != "WandbLogger":  # W&B got the config at init
            lg.log_hyperparams(to_container(cfg))

    log.info("training %s on %s (%s); run folder %s", model_name, datamodule.name, meta.label_rule, out_dir)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}

    ckpt_cb = trainer.checkpoint_callback
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
                model.test_results, meta.emotion_names, out_dir, "test", model_name, extra=extra,
                title=f"test split, best checkpoint {Path(best).name if best else '(last weights)'}",
            )
            metrics |= {k: v for k, v in summary.items() if isinstance(v, float)}
            figs = report.attention_examples(
                model, datamodule.dataset("val"), out_dir, n=1,
                hop_seconds=datamodule.audio.hop_length / datamodule.audio.sample_rate,
            )
            report.log_figures(loggers, [Path(p) for p in summary["figures"].values()] + figs)
    return metrics, {"model": model, "datamodule": datamodule, "trainer": trainer, "output_dir": out_dir}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics, _ = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    main()
