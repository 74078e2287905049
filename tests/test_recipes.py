"""docs/architecture.md's recipes, followed through Hydra configs alone: a third model (tests/toy_recipes.py's
ToyModule, chosen by ``model=toy``) and another kind of corpus (ToyCorpus, chosen by ``data=toy``), each
trained for one batch by ``train(cfg)`` through the real DataModule and feature cache."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from mosei_attn.checkpoints.resume import data_locations, resumable
from mosei_attn.data.cache.reader import read_attrs
from mosei_attn.train import train
from mosei_attn.training.build import build_datamodule
from tests.conftest import TINY, compose_config
from tests.toy_recipes import TOY_EMOTIONS, ToyCorpus, ToyModule

MODEL_YAML = """# a third model: the class and its sizes
_target_: tests.toy_recipes.ToyModule
hidden: 4
"""
DATA_YAML = """# another kind of corpus: the class, its arguments, the shared loader and audio settings
defaults:
  - loader@_here_: default
  - audio: demo
  - _self_
name: toy
corpus:
  _target_: tests.toy_recipes.ToyCorpus
  _partial_: true
  word_dim: ${..text.dim}
root: ${paths.data_dir}/toy   # the DataModule gives it to the corpus
"""
ONE_BATCH = [
    "++trainer.limit_train_batches=1",
    "++trainer.limit_val_batches=1",
    "++trainer.limit_test_batches=1",
]


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """A config folder beside the project's, holding model/toy.yaml and data/toy.yaml."""
    conf = tmp_path / "toy_conf"
    for name, text in {"model/toy.yaml": MODEL_YAML, "data/toy.yaml": DATA_YAML}.items():
        (conf / name).parent.mkdir(parents=True, exist_ok=True)
        (conf / name).write_text(text)
    return conf


def metrics_of(cfg) -> dict:
    metrics, objects = train(cfg)
    written = json.loads((Path(objects["output_dir"]) / "metrics.json").read_text())
    return written | {"_objects": objects}


def test_a_toy_model_trains_from_its_config(train_cfg, conf_dir, monkeypatch):
    """The toy model is built from its config and trained: its one step lowers the loss of the batch it
    took."""
    seen = {}

    def before(self, batch, batch_idx):
        seen["batch"], seen["before"] = batch, copy.deepcopy(self.state_dict())

    def after(self, outputs, batch, batch_idx):
        seen["after"] = copy.deepcopy(self.state_dict())  # the weights as stepped (not their average)

    monkeypatch.setattr(ToyModule, "on_train_batch_start", before)
    monkeypatch.setattr(ToyModule, "on_train_batch_end", after)
    cfg = train_cfg(
        "model=toy", "~model.kernels", "~model.dense", f"hydra.searchpath=[file://{conf_dir}]", *ONE_BATCH
    )
    written = metrics_of(cfg)
    model = written["_objects"]["model"]
    assert isinstance(model, ToyModule)
    assert model.net.out.out_features == written["_objects"]["datamodule"].meta.num_classes == 6
    losses = []
    for state in (seen["before"], seen["after"]):
        model.load_state_dict(state)
        with torch.no_grad():
            losses.append(model.loss(model(seen["batch"]).logits, seen["batch"]["target"]).item())
    assert losses[1] < losses[0]


def test_a_toy_corpus_trains_from_its_config(data_dir, conf_dir, tmp_path):
    tiny = [o for o in TINY if not o.startswith("data.write_corpus")]  # the synthetic corpus's own setting
    overrides = [*tiny, f"paths.data_dir={data_dir}", "data=toy", f"hydra.searchpath=[file://{conf_dir}]"]
    written = metrics_of(compose_config("train", [*overrides, *ONE_BATCH], tmp_path / "run"))
    dm = written["_objects"]["datamodule"]
    assert isinstance(dm.corpus(), ToyCorpus) and dm.cache_path.name.startswith("toy-")
    assert dm.meta.emotion_names == TOY_EMOTIONS
    attrs = read_attrs(dm.cache_path)
    assert attrs["counts"] == {"train": 8, "valid": 4, "test": 4, "total": 16} and attrs["skipped"] == {}
    assert written["test/emotion_names"] == list(TOY_EMOTIONS)


def test_a_corpus_declares_where_its_files_are_and_resume_follows():
    data = {"corpus": {"_target_": "tests.toy_recipes.ToyCorpus", "word_dim": "${..text.dim}"}}
    assert data_locations(data) == ["data.corpus.root"]
    signed = {"defaults": [{"/signature@corpus": "tests.toy_recipes.ToyCorpus"}], "corpus": {}}
    assert data_locations(signed) == ["data.corpus.root"]
    for key in ("data.root", "data.corpus.folds", "data.corpus.vectors_cache_dir"):
        assert key in resumable()  # from conf/data's corpora: MoseiCorpus.LOCATIONS, ManifestCorpus.LOCATIONS
    assert "data.corpus.word_dim" not in resumable() and "data.text" not in resumable()


def test_a_data_key_the_datamodule_does_not_take_is_refused_by_name(train_cfg):
    from hydra.errors import ConfigCompositionException, InstantiationException

    with pytest.raises(ConfigCompositionException, match=r"data\.batchsize"):
        train_cfg("data.batchsize=4")  # every argument is in the config: a misspelt one is not
    cfg = train_cfg("+data.batchsize=4")
    with pytest.raises(InstantiationException, match=r"MoseiDataModule.*batchsize"):
        build_datamodule(cfg.data)
