"""Evaluate a checkpoint: ``python -m mosei_attn.evaluate ckpt_path=<run>/checkpoints/last.ckpt [split=val]``.

Rebuilds the model from the checkpoint alone, rebuilds the data from the config the checkpoint recorded
(override with ``data=...``), and prints and saves the paper's table and confusion matrix.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from mosei_attn import report
from mosei_attn.callbacks import CONFIG_KEY
from mosei_attn.resume import checked_ckpt_arg, read_checkpoint
from mosei_attn.train import build_datamodule, prepare
from mosei_attn.utils import CONFIG_DIR, model_name

SPLITS = ("train", "val", "test")


def load_checkpoint(ckpt_path: str | Path, map_location: str = "cpu") -> tuple[L.LightningModule, DictConfig]:
    """The model and the run config stored in a checkpoint written by `mosei_attn.train`."""
    ckpt_path = Path(ckpt_path)
    ckpt = read_checkpoint(ckpt_path)
    if CONFIG_KEY not in ckpt:
        raise ValueError(
            f"{ckpt_path}: no '{CONFIG_KEY}' entry: not a checkpoint written by mosei_attn.train"
        )
    run_cfg = OmegaConf.create(ckpt[CONFIG_KEY])
    cls = get_class(run_cfg.model._target_)
    model = cls.load_from_checkpoint(ckpt_path, map_location=map_location, weights_only=False)
    return model, run_cfg


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    if cfg.split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {cfg.split!r}")
    model, run_cfg = load_checkpoint(cfg.ckpt_path)
    datamodule = build_datamodule(cfg.data if cfg.get("data") else run_cfg.data)
    prepare(datamodule)
    datamodule.setup()
    datamodule.require_splits(cfg.split)
    meta, want = model.meta, datamodule.meta
    for field in ("emotion_names", "label_rule", "spec_shape", "text_shape"):
        if getattr(meta, field) != getattr(want, field):
            raise ValueError(
                f"{cfg.ckpt_path}: the model was trained with {field}={getattr(meta, field)} "
                f"but the data gives {getattr(want, field)}"
            )
    trainer = L.Trainer(accelerator=cfg.accelerator, devices=1, logger=False, enable_checkpointing=False)
    trainer.test(model, dataloaders=datamodule._loader(cfg.split, shuffle=False), weights_only=False)
    name = model_name(run_cfg.model._target_)
    out_dir = Path(cfg.paths.output_dir)
    metrics, _ = report.write_report(
        model.test_results,
        meta.emotion_names,
        out_dir,
        cfg.split,
        name,
        extra={"checkpoint": str(cfg.ckpt_path), "label_rule": meta.label_rule, "data": datamodule.name},
        title=f"{cfg.split} split, {Path(cfg.ckpt_path).name}",
    )
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    checked_ckpt_arg(sys.argv)  # a bad ckpt_path stops here, before Hydra creates the output folder
    main()
