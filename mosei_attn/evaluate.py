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
from omegaconf import DictConfig, OmegaConf, open_dict

from mosei_attn.checkpoints.reading import NO_VALUE, checked_ckpt_arg, load_checkpoint, rebase_paths
from mosei_attn.config import CONFIG_DIR, quote_args, to_container
from mosei_attn.data.meta import DataMeta
from mosei_attn.errors import ConfigError, discarded_on_user_fault, user_errors
from mosei_attn.models.naming import model_name
from mosei_attn.process import process_setup
from mosei_attn.reporting.run_report import write_report
from mosei_attn.signatures import register_signatures
from mosei_attn.training.build import build_datamodule, prepare_on_rank_zero
from mosei_attn.training.checks import check_data_settings

SPLITS = ("train", "val", "test")
#: What to do when the data does not fit the checkpoint.
SAME_DATA = "evaluate it on data like its own (leave out data=... to use the data the checkpoint records)"


def split_fault(split: Any) -> str:
    """The one line for a split that is none of :data:`SPLITS`."""
    valid = " (MOSEI's 'valid' fold is split=val)" if split == "valid" else ""
    return f"split={split}: not a split{valid}; give split=train, val or test"


def checked_split_arg(argv: list[str]) -> None:
    """Exit with :func:`split_fault` when the command line's ``split=`` is none of :data:`SPLITS`, before
    Hydra creates the output folder ``evaluate_<split>/``."""
    for arg in argv[1:]:
        key, eq, value = arg.lstrip("+").partition("=")
        if eq and key == "split" and value.strip("'\"") not in SPLITS:
            raise SystemExit(f"error: {split_fault(value)}. Nothing was written")


def read_only(data: DictConfig | dict[str, Any]) -> DictConfig:
    """``data`` (a config, or the plain one a checkpoint records) with a synthetic corpus that may be written
    where none is, never replaced (another run may read the one there)."""
    data = OmegaConf.create(data) if isinstance(data, dict) else data.copy()
    if data.get("write_corpus"):
        with open_dict(data):
            data.write_corpus.overwrite = False
    return data


#: What a checkpoint records of its data and the data it is evaluated on must give alike.
RECORDED = ("emotion_names", "label_rule", "spec_shape", "text_shape")


def check_same(meta: DataMeta, given: dict[str, Any], ckpt_path: str) -> None:
    """ConfigError naming the first of :data:`RECORDED` whose value in ``given`` (None: not known yet)
    differs from what the checkpoint's ``meta`` records."""
    for field in RECORDED:
        had, value = getattr(meta, field), given.get(field)
        if value is not None and (tuple(had) if isinstance(had, list | tuple) else had) != value:
            raise ConfigError(
                f"{ckpt_path}: the model was trained with {field}={had} but the data gives "
                f"{field}={value}: {SAME_DATA}"
            )


def check_data_fits(meta: DataMeta, datamodule: Any, ckpt_path: str) -> None:
    """:func:`check_same` on what the data config gives, before any corpus or cache is built (a manifest's
    emotions, when the config leaves them to the file, are compared once the data is read)."""
    corpus = datamodule.make_corpus  # a partial of the corpus class: MOSEI's emotions are the class's
    names = getattr(getattr(corpus, "func", None), "emotion_names", None)
    names = tuple(getattr(corpus, "keywords", {}).get("emotions") or ()) or names
    given = {
        "emotion_names": names if isinstance(names, tuple) else None,
        "label_rule": datamodule.label_rule,
        "spec_shape": (datamodule.audio.freq_bins, datamodule.audio.max_frames),
        "text_shape": (datamodule.text.max_words, datamodule.text.dim),
    }
    check_same(meta, given, ckpt_path)


def checkpoint_and_data(cfg: DictConfig) -> tuple[Any, DictConfig, Any]:
    """The model ``cfg.ckpt_path`` holds, the run config it records, and the DataModule to evaluate it on
    (``cfg.data``, or the data it recorded), set up and checked against the checkpoint, with ``cfg.split``."""
    if cfg.split not in SPLITS:
        raise ConfigError(split_fault(cfg.split))
    model, run_cfg = load_checkpoint(cfg.ckpt_path)
    # the recorded data, moved with the data folder (MOSEI_ATTN_DATA, paths.data_dir) if it moved
    data = (
        cfg.data
        if cfg.get("data")
        else rebase_paths(to_container(run_cfg.data), run_cfg.paths.data_dir, cfg.paths.data_dir)
    )
    check_data_settings(data)
    datamodule = build_datamodule(read_only(data))
    check_data_fits(model.meta, datamodule, cfg.ckpt_path)  # before any data is built
    prepare_on_rank_zero(datamodule)
    datamodule.setup()
    datamodule.require_splits(cfg.split)
    check_same(model.meta, {f: getattr(datamodule.meta, f) for f in RECORDED}, cfg.ckpt_path)  # as read
    return model, run_cfg, datamodule


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test ``cfg.ckpt_path`` on ``cfg.split``; returns what ``metrics.json`` holds."""
    model, run_cfg, datamodule = checkpoint_and_data(cfg)
    meta = model.meta
    # the run's own precision unless told otherwise: a bf16-mixed run's test table is reproduced in bf16
    precision = cfg.get("precision") or run_cfg.get("trainer", {}).get("precision")  # None: Lightning's
    trainer = L.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        callbacks=datamodule.callbacks(),  # what the data's extras need (a synthetic corpus: its cue metrics)
    )
    trainer.test(model, dataloaders=datamodule._loader(cfg.split, shuffle=False), weights_only=False)
    metrics, _ = write_report(
        {cfg.split: model.test_results},  # the test loop ran on cfg.split's loader
        tuple(meta.emotion_names),
        Path(cfg.paths.output_dir),
        model_name(run_cfg.model),
        extra={
            "checkpoint": str(cfg.ckpt_path),
            "label_rule": meta.label_rule,
            "data": datamodule.name,
            "precision": str(trainer.precision),
            "checkpoint_epoch": model.loaded_epoch,  # read when load_checkpoint loaded it
        },
        title=Path(cfg.ckpt_path).name,
    )
    return metrics


register_signatures()  # before Hydra composes: every argument's default (mosei_attn/signatures.py)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    process_setup()  # malloc and warning filters for this process (not at import)
    with user_errors(), discarded_on_user_fault(cfg.paths.output_dir):  # a refusal leaves no empty folder
        evaluate(cfg)


def cli() -> None:
    """``python -m mosei_attn.evaluate`` and the ``mosei-attn-evaluate`` console script."""
    checked_ckpt_arg(sys.argv)  # a bad ckpt_path stops here, before Hydra creates the output folder
    checked_split_arg(sys.argv)  # as does a bad split (the output folder is named after it)
    # checked as typed, then quoted for Hydra: a path may hold non-ASCII letters, commas or quotes
    sys.argv = quote_args(sys.argv, ("ckpt_path",), keep=NO_VALUE)
    main()


if __name__ == "__main__":
    cli()
