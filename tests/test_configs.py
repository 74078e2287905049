"""Every option of every config group composes and builds what it describes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

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
#: The default run's length, which the cosine schedule spans (debug=fdr keeps it: one batch, not one epoch).
DEFAULT_EPOCHS = OmegaConf.load(Path(CONFIG_DIR) / "trainer" / "default.yaml").max_epochs
#: What some options need from the user (a required value in their YAML).
NEEDS = {
    ("data", "mosei"): ["data.root=/data/CMU_MOSEI"],
    ("data", "manifest"): ["data.corpus.manifest=m.csv", "data.word_vectors.path=v.txt"],
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


#: What the data options build, written out by hand: batch size, spectrogram (bins, frames), max words.
DATA = {"synthetic": (16, (100, 200), 40), "mosei": (32, (200, 400), 40), "manifest": (32, (200, 400), 40)}
#: The optimizer each choice builds (class, lr); every other option keeps the default, AdamW at 1e-3.
OPTIMIZERS = {"sgd": (torch.optim.SGD, 1e-3), "paper_attention": (torch.optim.SGD, 1e-3)}
OPTIMIZERS["paper_shallow"] = OPTIMIZERS["paper_attention"]
#: The loggers each logger option builds, by class name, in order.
LOGGERS = {
    "csv": ["CSVLogger"],
    "default": ["CSVLogger", "TensorBoardLogger"],
    "tensorboard": ["TensorBoardLogger"],
    "wandb": ["CSVLogger", "WandbLogger"],
}


def check_model(model, cfg) -> None:
    """The network takes the data's shapes (tiny_meta: 3 emotions) and gives one logit per emotion."""
    (f, t), (words, dim) = (
        (cfg.data.audio.freq_bins, cfg.data.audio.max_frames),
        (cfg.data.text.max_words, 300),
    )
    batch = {
        "spec": torch.zeros(2, 1, f, t),
        "spec_len": torch.tensor([t, t // 2]),
        "words": torch.zeros(2, words, dim),
        "word_len": torch.tensor([words, 1]),
        "speech": (torch.arange(t) < t // 2).expand(2, t),  # the first half heard as speech
    }
    model.eval()
    with torch.no_grad():
        assert model(batch).logits.shape == (2, 3)


def optimizer_of(built) -> torch.optim.Optimizer:
    """The optimizer in what a model's configure_optimizers returns, with or without a schedule."""
    return built["optimizer"] if isinstance(built, dict) else built


def check_optimizer(model, option: str) -> None:
    """The optimizer Lightning gets: its class and learning rate; the scheduler's settings."""
    built = model.configure_optimizers()
    opt = optimizer_of(built)
    cls, lr = OPTIMIZERS.get(option, (torch.optim.AdamW, 1e-3))
    assert type(opt) is cls and opt.param_groups[0]["lr"] == pytest.approx(lr)
    if option.startswith("paper_"):
        assert not isinstance(built, dict)  # a set learning rate: no scheduler
    elif option == "plateau":
        sched = built["lr_scheduler"]
        assert isinstance(sched["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau)
        assert sched["monitor"] == "val/ua" and sched["scheduler"].mode == "max"
        assert sched["scheduler"].factor == pytest.approx(0.5)
    # the default cosine schedule ends with the run: 1 epoch with tiny shapes, 30 to overfit, else the
    # default's
    else:
        sched = built["lr_scheduler"]["scheduler"]
        assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR)
        assert sched.T_max == {"fdr": DEFAULT_EPOCHS, "overfit": 30}.get(option, 1)


def check_trainer(cfg, option: str) -> None:
    """The Trainer as Lightning reads its settings."""
    from lightning.pytorch.accelerators import CPUAccelerator
    from lightning.pytorch.strategies import DDPStrategy

    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        pytest.skip("building a GPU Trainer needs a GPU (tests/test_gpu.py runs it with -m gpu)")
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    if not torch.cuda.is_available():  # trainer.accelerator=auto finds no GPU
        assert isinstance(trainer.accelerator, CPUAccelerator)
    assert trainer.max_epochs == {"overfit": 30}.get(option, 1)  # fast_dev_run: one epoch
    assert trainer.precision == "32-true"
    if option == "ddp_cpu":
        assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_devices == 2
        assert trainer.strategy._process_group_backend == "gloo"
    assert trainer.fast_dev_run == (option == "fdr") and trainer.overfit_batches == {"overfit": 4}.get(
        option, 0
    )


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_instantiates(group, option, tmp_path, monkeypatch):
    """Each option builds what it describes: a model that takes the data's shapes, the optimizer, data
    module, Trainer, loggers and callbacks with the settings written out by hand above."""
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
    expected_class = {"shallow": "ShallowModule", "paper_shallow": "ShallowModule"}.get(
        option, "AttentionModule"
    )
    assert type(model).__name__ == expected_class
    if expected_class == "AttentionModule":
        assert model.net.text_path == (option == "attention_text")
    check_model(model, cfg)
    if group != "data":
        check_optimizer(model, option)
    if group in ("data", "debug"):
        tiny = (16, (16, 64), 8)  # debug=tiny_shapes: the synthetic batch, 16 x 64 spectrograms, 8 words
        batch, spec, words = (
            DATA[option] if group == "data" else tiny if option == "tiny_shapes" else DATA["synthetic"]
        )
        dm = build_datamodule(cfg.data)  # constructing opens nothing
        assert (dm.batch_size, (dm.audio.freq_bins, dm.audio.max_frames), dm.text.max_words) == (
            batch,
            spec,
            words,
        )
    if group in ("trainer", "debug"):
        check_trainer(cfg, option)
    if group == "logger":
        assert [type(lg).__name__ for lg in build_loggers(cfg)] == LOGGERS[option]
    if group == "callbacks":
        built = [instantiate(c) for c in cfg.callbacks.values() if c]
        best, last = (c for c in built if type(c).__name__ == "ModelCheckpoint")
        assert (best.monitor, best.mode, best.save_top_k) == ("val/ua", "max", 1)
        assert last.monitor is None and last.filename == "last"
        assert best.dirpath == last.dirpath == str((tmp_path / "run" / "checkpoints").resolve())
    if group == "experiment":
        assert list(cfg.model.dense) == [1024, 512, 128] and cfg.model.dropout == pytest.approx(0.1)
        assert cfg.data.batch_size == 32 and cfg.model.kernels == 32 and cfg.model.kernel_size == 3
        assert cfg.data.audio.freq_bins == 200  # the paper's 200 x 400
        assert (cfg.model.mask_padding, cfg.model.init, cfg.model.class_weights) == (False, "keras", False)
        assert (
            cfg.model.get("speech_gate", False) is False
        )  # none of model/ours: the paper's model as written


@pytest.mark.parametrize("experiment", ["paper_attention", "paper_shallow"])
def test_paper_experiments_pin_no_scheduler_whatever_the_default(experiment, tmp_path):
    """Even if the default config chose a scheduler, the paper's experiments train with a set learning
    rate."""
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


#: YAML values that equal the Python default they feed, each with its reason. Lightning's Trainer and W&B
#: logger are not given their whole signature (mosei_attn/signatures.py): these keys are named so that the
#: documented overrides (trainer.accelerator=cpu, trainer=ddp trainer.num_nodes=2 trainer.devices=4,
#: logger.wandb.offline=true, logger.wandb.log_model=true) need no "+".
RESTATED = {
    ("trainer/default", "trainer.accelerator"): "named for trainer.accelerator=cpu",
    ("trainer/ddp", "trainer.devices"): "named for trainer.devices=4",
    ("trainer/ddp", "trainer.num_nodes"): "named for trainer.num_nodes=2",
    ("logger/wandb", "logger.wandb.log_model"): "named for logger.wandb.log_model=true",
    ("logger/wandb", "logger.wandb.offline"): "named for logger.wandb.offline=true",
    ("experiment/base/paper", "data.batch_size"): "the paper's 32, taking back data=synthetic's 16",
}
#: Compositions that together load every config file of every group.
COMPOSITIONS = [[f"{g}={o}", *NEEDS.get((g, o), [])] for g, o in OPTIONS if g != "hparams_search"]


def restated_defaults(overrides: list[str]) -> dict[tuple[str, str], object]:
    """(config file, dotted key) -> value, for every value a config file of this composition states that
    equals the signature default of the ``_target_`` it feeds (interpolations and ``_x_`` keys aside)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode
    from hydra.utils import get_object

    from mosei_attn.signatures import signature_defaults

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = OmegaConf.to_container(compose("train", overrides), resolve=False)
        loaded = GlobalHydra.instance().config_loader().compute_defaults_list("train", overrides, RunMode.RUN)
    GlobalHydra.instance().clear()
    found = {}
    for d in loaded.defaults:
        if (
            d.config_path is None
            or d.config_path == "train"
            or d.config_path.startswith(("hydra/", "signature/"))
        ):
            continue
        own = OmegaConf.to_container(
            OmegaConf.load(Path(CONFIG_DIR) / f"{d.config_path}.yaml"), resolve=False
        )
        own.pop("defaults", None)
        for key, value in flat(own, d.package or ""):
            *path, leaf = key.split(".")
            node = cfg
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if leaf.startswith("_") or not isinstance(node, dict) or "_target_" not in node:
                continue
            if isinstance(value, str) and "${" in value:
                continue
            default = signature_defaults(get_object(node["_target_"])).get(leaf, KeyError)
            if default == value and type(default) is type(value):
                found[(d.config_path, key)] = value
    return found


def flat(d: dict, prefix: str):
    """(dotted key, value) of every leaf of ``d`` under package ``prefix``."""
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            yield from flat(v, key)
        else:
            yield key, v


def test_no_yaml_value_restates_its_python_default():
    """A value a config file states is where it departs from the class it feeds: a value equal to the
    signature's default would be a second copy, silently stale when the default changes."""
    found = {}
    for overrides in COMPOSITIONS:
        found |= restated_defaults(overrides)
    assert {k: v for k, v in found.items() if k not in RESTATED} == {}
    assert set(RESTATED) <= set(found)  # an exception that no longer restates anything goes from the list


def test_a_signature_node_holds_every_argument_a_config_may_set():
    """``/signature@...: <class>``: required arguments are Hydra's ``???``, a model's ``**net`` is its
    network's arguments, what the code supplies (shapes, metadata, ``root``) and defaults a config cannot hold
    are left out; the values are the Python defaults, so a changed default reaches every config."""
    from mosei_attn.data.corpora.mosei import MoseiCorpus
    from mosei_attn.models import AttentionModule
    from mosei_attn.models.attention import AttentionNet
    from mosei_attn.signatures import signature_defaults, signature_node

    model = signature_defaults(AttentionModule)
    assert model["mask_padding"] is False and model["dense"] == [1024, 512, 128] and model["init"] == "keras"
    assert not {"meta", "optimizer", "spec_shape", "num_classes"} & set(model)
    assert set(model) >= set(signature_defaults(AttentionNet))
    assert "root" not in signature_defaults(MoseiCorpus)
    assert signature_node("mosei_attn.data.MoseiDataModule")["corpus"] == "???"

    class WithObject:
        def __init__(self, a: int, b: object = object(), c: tuple = (1, 2)) -> None: ...

    assert signature_defaults(WithObject) == {"a": "???", "c": [1, 2]}


#: The paper's values (section 4.2, "Hyperparameters"; section 3.2 for the spectrogram), written from its
#: text.
PAPER_VALUES = {
    "optimizer._target_": "torch.optim.SGD",  # stochastic gradient descent ...
    "optimizer.lr": 1e-3,
    "scheduler": None,  # ... with a set learning rate
    "data.batch_size": 32,
    "model.kernels": 32,
    "model.kernel_size": 3,
    "model.pool": 2,
    "model.dense": [1024, 512, 128],
    "model.dropout": 0.1,
    "data.audio.sample_rate": 8000,
    "data.audio.window": "hamming",
    "data.audio.win_length": 800,
    "data.audio.freq_bins": 200,
    "data.audio.max_frames": 400,
}


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("paper_attention", "mosei_attn.models.AttentionModule"),
        ("paper_shallow", "mosei_attn.models.ShallowModule"),
    ],
)
def test_paper_experiments_compose_the_papers_values_from_one_base(name, target, tmp_path):
    """Each paper experiment, as composed, has the paper's values; they live once, in base/paper.yaml."""
    text = (Path(CONFIG_DIR) / "experiment" / f"{name}.yaml").read_text()
    assert "- base/paper" in text and "lr:" not in text
    cfg = compose_config("train", [f"experiment={name}"], tmp_path / "out")
    got = {key: OmegaConf.select(cfg, key) for key in PAPER_VALUES}
    got = {k: OmegaConf.to_container(v) if OmegaConf.is_config(v) else v for k, v in got.items()}
    assert got == PAPER_VALUES
    assert cfg.model._target_ == target
    assert (
        cfg.model.get("speech_gate", False) is False and cfg.model.mask_padding is False
    )  # eq. 1 as written
    assert cfg.model.class_weights is False and cfg.weight_average is None
