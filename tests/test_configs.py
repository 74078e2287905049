"""Every option of every config group composes and builds what it describes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from mosei_attn.config import CONFIG_DIR
from mosei_attn.data.meta import DataMeta
from mosei_attn.training.build import build_datamodule, build_model
from mosei_attn.training.loggers import build_loggers
from tests.conftest import compose_config

SKIP_GROUPS = {"hydra", "paths"}
OPTIONS = sorted(
    (group.name, option.stem)
    for group in Path(CONFIG_DIR).iterdir()
    if group.is_dir() and group.name not in SKIP_GROUPS
    for option in group.glob("*.yaml")
)
#: What some options need from the user (a required value in their YAML).
NEEDS = {
    ("data", "mosei"): ["data.root=/data/CMU_MOSEI"],
    ("data", "manifest"): ["data.manifest=m.csv", "data.word_vectors.path=v.txt"],
}


def tiny_meta(cfg) -> dict:
    return DataMeta(
        emotion_names=("a", "b", "c"),
        label_rule=cfg.data.label_rule,
        spec_shape=(cfg.data.audio.freq_bins, cfg.data.audio.max_frames),
        text_shape=(cfg.data.text.max_words, cfg.data.text.dim),
        class_counts=(3, 2, 1),
    ).to_dict()


def test_every_group_has_options():
    groups = {g for g, _ in OPTIONS}
    assert {"data", "model", "optimizer", "trainer", "logger", "callbacks", "experiment", "debug"} <= groups


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_instantiates(group, option, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    if group == "hparams_search":
        pytest.importorskip(
            "hydra_plugins.hydra_optuna_sweeper", reason="the [optuna] extra is not installed"
        )
    overrides = [f"{group}={option}", *NEEDS.get((group, option), [])]
    if group not in ("debug", "data", "experiment"):
        overrides.append("debug=tiny_shapes")  # tiny shapes: instantiating the paper's model is slow-ish
    cfg = compose_config("train", overrides, tmp_path / "run")
    model = build_model(cfg, tiny_meta(cfg))
    assert isinstance(model, torch.nn.Module)
    opt = model.configure_optimizers()
    assert opt is not None
    if group == "data":
        dm = build_datamodule(cfg.data)  # constructing opens nothing
        assert dm.batch_size == cfg.data.batch_size
    if group == "trainer":
        if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
            assert cfg.trainer.precision == "bf16-mixed"  # composed; building a GPU Trainer needs a GPU
        else:
            assert instantiate(cfg.trainer, logger=False, enable_checkpointing=False) is not None
    if group in ("logger", "callbacks"):
        built = (
            build_loggers(cfg) if group == "logger" else [instantiate(c) for c in cfg.callbacks.values() if c]
        )
        assert built
    if group == "experiment":
        assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.lr == pytest.approx(1e-3)
        assert list(cfg.model.dense) == [1024, 512, 128] and cfg.model.dropout == pytest.approx(0.1)
        assert cfg.data.batch_size == 32 and cfg.model.kernels == 32 and cfg.model.kernel_size == 3
        assert (
            cfg.get("scheduler") is None and cfg.data.audio.freq_bins == 200
        )  # a set lr; the paper's 200 x 400
        assert cfg.model._target_.lower().endswith(f"{option.removeprefix('paper_')}module")


@pytest.mark.parametrize("experiment", ["paper_attention", "paper_shallow"])
def test_paper_experiments_pin_no_scheduler_whatever_the_default(experiment, tmp_path):
    """Even if the default config chose a scheduler, the paper's experiments train with a set learning rate."""
    import shutil

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    train_yaml = conf / "train.yaml"
    train_yaml.write_text(train_yaml.read_text().replace("  - scheduler: null\n", "  - scheduler: cosine\n"))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        assert compose("train").scheduler._target_.endswith("CosineAnnealingLR")  # the changed default
        assert compose("train", [f"experiment={experiment}"]).get("scheduler") is None
    GlobalHydra.instance().clear()


def test_paper_experiments_share_one_base():
    experiments = Path(CONFIG_DIR) / "experiment"
    for name in ("paper_attention", "paper_shallow"):
        text = (experiments / f"{name}.yaml").read_text()
        assert "- base/paper" in text and "lr:" not in text  # the values live once, in the base
    base = (experiments / "base" / "paper.yaml").read_text()
    assert "override /scheduler: null" in base and "max_epochs: 50                  # ours" in base
