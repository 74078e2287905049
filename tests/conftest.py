"""Shared fixtures: composed Hydra configs on a small synthetic corpus with tiny spectrogram shapes."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from mosei_attn.config import CONFIG_DIR
from mosei_attn.process import process_setup
from mosei_attn.signatures import register_signatures

process_setup()  # what every entry point sets for its process (import alone sets nothing)
register_signatures()  # as the entry points do before Hydra composes

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")

#: A small corpus (videos) with tiny features: the same code path as the default run, in seconds.
TINY = [
    "debug=tiny_shapes",
    "data.write_corpus.n_videos=16",
    "data.feature_workers=1",
    "data.batch_size=8",
    "logger=csv",
    "callbacks.progress_bar=null",
    "trainer.accelerator=cpu",
    "++trainer.enable_model_summary=false",
    "figures=false",  # the tests that check the figures draw them (figures=true)
]


def load_factor() -> float:
    """How many times over the machine's cores are busy (1.0 on a quiet machine): waits for another process
    scale with it."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def free_port() -> int:
    """A localhost TCP port the OS chose as free (bound to port 0, then released for the caller to use)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_config(name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose ``conf/<name>.yaml`` as Hydra would, with the run folder set to ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # resolves ${hydra:...} interpolations
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the job's config carries no hydra node
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent)
    return cfg


def evaluate_checkpoint(ckpt: str | Path, data_dir: Path, output_dir: Path, *overrides: str) -> dict:
    """``python -m mosei_attn.evaluate ckpt_path=<ckpt> ...`` on the tests' data folder; its metrics."""
    from mosei_attn.evaluate import evaluate

    cfg = compose_config(
        "evaluate", [f"ckpt_path={ckpt}", f"paths.data_dir={data_dir}", *overrides], output_dir
    )
    return evaluate(cfg)


@pytest.fixture(autouse=True)
def _fresh_wandb_settings():
    """W&B reads its environment once per process (``wandb.setup``) and a logger=wandb run starts it: end the
    test's W&B run and forget those settings, so a later test's WANDB_MODE is read afresh."""
    yield
    wandb = sys.modules.get("wandb")
    if wandb is not None:
        wandb.finish()
        wandb.teardown()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder per test session: the tiny synthetic corpus and caches are built once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def train_cfg(data_dir: Path, tmp_path: Path) -> Callable[..., DictConfig]:
    """``train_cfg("model=shallow", ...)``: a tiny training config writing under ``tmp_path``."""

    def make(*overrides: str, output_dir: Path | None = None) -> DictConfig:
        return compose_config(
            "train", [*TINY, f"paths.data_dir={data_dir}", *overrides], output_dir or tmp_path / "run"
        )

    return make
