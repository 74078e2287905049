"""What the entry points (train, evaluate, prepare, predict) share: the data module and the model from a config,
a model from a checkpoint, and the corpus preparation that global rank 0 does while the other ranks wait."""

from __future__ import annotations

import inspect
import re
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from mosei_attn.config import to_container
from mosei_attn.errors import ConfigError

#: How long ranks > 0 wait for rank 0 to build the corpus and its feature cache (seconds).
PREPARE_TIMEOUT_S = 3600.0
#: How often they look (seconds).
PREPARE_POLL_S = 5.0


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (or the only one)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return rank_zero_only.rank == 0


#: Class paths that configs recorded by older checkpoints name, and where those classes live now.
MOVED_CLASSES = {
    "mosei_attn.data.corpus.MoseiCorpus": "mosei_attn.data.corpora.mosei.MoseiCorpus",
    "mosei_attn.data.manifest.ManifestCorpus": "mosei_attn.data.corpora.manifest.ManifestCorpus",
}


def corpus_inputs(cfg: DictConfig) -> list[str]:
    """Keys of a data config that only feed its factories (``corpus: {root: ${..root}}``, so that
    ``data.root=...`` works on the command line): the ones its DataModule class does not take."""
    params = inspect.signature(get_class(cfg._target_)).parameters
    return [k for k in cfg if k != "_target_" and k not in params]


def build_datamodule(data_cfg: DictConfig | dict[str, Any]) -> L.LightningDataModule:
    """The data module of a ``data`` config; its ``corpus`` (a ``_partial_`` with its own ``_target_``) is
    built when the data is prepared. A config recorded by an older checkpoint is read too. A required
    value left unset (``data=mosei`` without ``data.root``) is an error that names it."""
    missing = _unset(OmegaConf.to_container(data_cfg, resolve=False)) if OmegaConf.is_config(data_cfg) else []
    if missing:
        keys = ", ".join(f"data.{k}" for k in missing)
        raise ConfigError(
            f"{keys} not set: give it on the command line, e.g. data.root=/path/to/CMU_MOSEI (the folder "
            "holding CMU_MOSEI_Labels.csd and Raw/) for data=mosei, data.manifest=clips.csv for data=manifest"
        )
    cfg = OmegaConf.create(to_container(data_cfg))
    if "corpus" not in cfg:
        cfg = OmegaConf.create(legacy_data_config(OmegaConf.to_container(cfg)))
    if cfg.corpus.get("_target_") in MOVED_CLASSES:
        cfg.corpus._target_ = MOVED_CLASSES[cfg.corpus._target_]
    skip = corpus_inputs(cfg)
    raw = str(OmegaConf.to_container(data_cfg, resolve=False)) if OmegaConf.is_config(data_cfg) else ""
    raw = raw if "${" in raw else ""  # a config a checkpoint recorded is resolved: nothing to trace
    unused = [k for k in skip if raw and not re.search(r"\$\{(\.\.|\.|data\.)" + re.escape(k) + r"\b", raw)]
    if unused:
        raise ValueError(f"data.{unused[0]}: neither an argument of {cfg._target_} nor used by its corpus")
    return instantiate({k: v for k, v in cfg.items() if k not in skip}, _convert_="all")


def _unset(d: Any, prefix: str = "") -> list[str]:
    """Dotted keys of an unresolved config container whose value is Hydra's mandatory ``???``."""
    if not isinstance(d, dict):
        return []
    out = []
    for k, v in d.items():
        out += [f"{prefix}{k}"] if v == "???" else _unset(v, f"{prefix}{k}.")
    return out


def legacy_data_config(d: dict[str, Any]) -> dict[str, Any]:
    """A data config as recorded before the corpus got its own ``_target_`` (root, folds, synthetic, manifest
    and emotions given to the DataModule) in today's form."""
    d = dict(d)
    root, folds, manifest, emotions = (d.pop(k, None) for k in ("root", "folds", "manifest", "emotions"))
    synthetic = d.pop("synthetic", None)
    text, wv = d.get("text") or {}, d.get("word_vectors") or {}
    if manifest is not None:
        d["corpus"] = {
            "_target_": "mosei_attn.data.corpora.manifest.ManifestCorpus",
            "_partial_": True,
            "manifest": manifest,
            "word_vectors": wv.get("path"),
            "emotions": emotions,
            "word_dim": text.get("dim", 300),
            "vectors_cache_dir": d.get("cache_dir"),
        }
        return d
    word_dim = text.get("dim", 300)
    d["corpus"] = {"_target_": "mosei_attn.data.corpora.mosei.MoseiCorpus", "_partial_": True, "root": root}
    d["corpus"] |= {"folds": folds, "word_dim": word_dim}
    if synthetic:
        d["write_corpus"] = {"_target_": "mosei_attn.synthetic.write_synthetic_corpus", "_partial_": True}
        d["write_corpus"] |= {"root": root, **synthetic}
    return d


def rebase_paths(cfg: DictConfig, old: str, new: str) -> DictConfig:
    """``cfg`` with every string value that is a path inside folder ``old`` moved into folder ``new`` (a data
    config recorded by a checkpoint, read where the data folder is now)."""
    old_dir, new_dir = Path(old).absolute(), Path(new).absolute()
    if old_dir == new_dir:
        return cfg

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        is_path = isinstance(value, str) and ("/" in value or value == old)  # not a name or a target
        if is_path and Path(value).absolute().is_relative_to(old_dir):
            return str(new_dir / Path(value).absolute().relative_to(old_dir))
        return value

    return OmegaConf.create(move(to_container(cfg)))


def check_optimizer(cfg: DictConfig) -> None:
    """Build ``cfg.optimizer`` and ``cfg.scheduler`` on one dummy parameter, before anything else runs: a value
    they refuse (``optimizer.lr=abc``) is a ConfigError naming the settings given as text."""
    import torch

    from mosei_attn.models.base import LIGHTNING_SCHEDULER_KEYS, build_optimizers

    groups = {g: to_container(cfg[g]) for g in ("optimizer", "scheduler") if cfg.get(g)}
    try:
        if "optimizer" in groups:  # as the module will build them (EmotionModule.configure_optimizers)
            build_optimizers(
                groups["optimizer"], groups.get("scheduler"), [torch.nn.Parameter(torch.zeros(1))]
            )
    except (TypeError, ValueError) as e:
        text = [
            f"{g}.{k}={v!r}"
            for g, d in groups.items()
            for k, v in d.items()
            if isinstance(v, str) and not k.startswith("_") and k not in LIGHTNING_SCHEDULER_KEYS
        ]
        raise ConfigError(
            f"{', '.join(text) or 'optimizer'}: the optimizer or its schedule cannot be built with these settings "
            f"({e}); give numbers, e.g. optimizer.lr=1e-3"
        ) from e


def build_model(cfg: DictConfig, meta: dict[str, Any]) -> L.LightningModule:
    """The LightningModule of ``cfg.model`` with the data's metadata and plain-dict optimizer configs
    (the module instantiates its ``_partial_`` optimizer and scheduler itself)."""
    make = instantiate(cfg.model, _partial_=True, _convert_="all")
    scheduler = to_container(cfg.scheduler) if cfg.get("scheduler") else None
    return make(meta=meta, optimizer=to_container(cfg.optimizer), scheduler=scheduler)


def prepare_on_rank_zero(datamodule: Any, timeout_s: float = PREPARE_TIMEOUT_S) -> None:
    """Prepare the corpus and cache on global rank 0; other ranks wait for it (DDP, SLURM)."""
    if is_rank_zero():
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
            time.sleep(PREPARE_POLL_S)


def load_checkpoint(ckpt_path: str | Path, map_location: str = "cpu") -> tuple[L.LightningModule, DictConfig]:
    """The model and the run config stored in a checkpoint written by `mosei_attn.train`."""
    from mosei_attn.training.resume import CheckpointError, recorded_config

    ckpt_path = Path(ckpt_path)
    run_cfg = OmegaConf.create(recorded_config(ckpt_path))  # a missing, foreign or damaged file is named
    cls = get_class(run_cfg.model._target_)
    try:
        model = cls.load_from_checkpoint(ckpt_path, map_location=map_location, weights_only=False)
    except RuntimeError as e:  # load_state_dict: the stored weights do not fit the network built today
        if "size mismatch" not in str(e):
            raise
        detail = next(line.strip() for line in str(e).splitlines() if "size mismatch" in line)
        raise CheckpointError(
            f"{ckpt_path}: its weights do not fit today's {cls.__name__} ({detail}); it was written by an "
            "older mosei_attn whose network differed (the attention model's classifier averages over time "
            "since issue 17): train it again"
        ) from None
    return model, run_cfg
