"""Settings checked at the start of an entry point, before anything is read or written: a value of the wrong
kind (``seed=abc``, ``data.batch_size=0``, ``data.num_workers=-1``) is one ConfigError line naming it and
giving a value that works, not a traceback after the data was prepared."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from mosei_attn.errors import ConfigError


def _integer(key: str, value: Any, least: int, example: str, none_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{key}={value}: give a whole number of at least {least}, e.g. {key}={example}")


def check_data_settings(data: DictConfig | dict[str, Any]) -> None:
    """The data config's batch size and worker counts."""
    _integer("data.batch_size", data.get("batch_size", 1), 1, "16")
    _integer("data.num_workers", data.get("num_workers", 0), 0, "0")
    _integer("data.feature_workers", data.get("feature_workers"), 1, "4", none_ok=True)


def check_run_settings(cfg: DictConfig) -> None:
    """A training config's seed, epochs and data settings."""
    _integer("seed", cfg.get("seed"), 0, "0", none_ok=True)
    epochs = (cfg.get("trainer") or {}).get("max_epochs")
    if epochs is not None and epochs != -1:  # -1: Lightning's "no limit"
        _integer("trainer.max_epochs", epochs, 1, "10")
    if cfg.get("data"):
        check_data_settings(cfg.data)
