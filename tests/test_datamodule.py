"""Synthetic corpus -> prepare -> DataModule batches, through the same reader real MOSEI uses."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from mosei_attn.data.corpora.labels import EMOTIONS, derive_targets
from mosei_attn.training.build import build_datamodule


@pytest.fixture
def datamodule(train_cfg):
    def make(*overrides: str):
        dm = build_datamodule(train_cfg(*overrides).data)
        dm.prepare_data()
        dm.setup("fit")
        return dm

    return make


def test_batches_have_config_shapes(train_cfg, datamodule):
    cfg = train_cfg()
    dm = datamodule()
    batch = next(iter(dm.train_dataloader()))
    B = cfg.data.batch_size
    F, T = cfg.data.audio.freq_bins, cfg.data.audio.max_frames
    L, D = cfg.data.text.max_words, cfg.data.text.dim
    # spec and words as cached (float16), until the model casts them
    assert batch["spec"].shape == (B, 1, F, T) and batch["spec"].dtype == torch.float16
    assert batch["words"].shape == (B, L, D)
    assert batch["target"].shape == (B,) and batch["target"].dtype == torch.int64
    assert ((batch["spec_len"] > 0) & (batch["spec_len"] <= T)).all()
    assert ((batch["word_len"] > 0) & (batch["word_len"] <= L)).all()
    assert 0.0 <= batch["spec"].min() and batch["spec"].max() <= 1.0
    # frames past a segment's length are padding (zeros)
    i = int(batch["spec_len"].argmin())
    assert batch["spec"][i, :, :, int(batch["spec_len"][i]) :].abs().sum() == 0
    assert dm.meta.spec_shape == (F, T) and dm.meta.text_shape == (L, D)
    assert dm.meta.emotion_names == EMOTIONS


def test_splits_follow_folds_and_label_counts(datamodule):
    dm = datamodule()
    cache = dm.dataset("train").cache
    folds, labels = cache.fold, cache.labels
    for split, fold in (("train", "train"), ("val", "valid"), ("test", "test")):
        ds = dm.dataset(split)
        assert len(ds) == int((folds == fold).sum()) > 0  # argmax keeps every row
        assert set(folds[ds.rows]) == {fold}
    expected = np.bincount(derive_targets(labels[folds == "train"], "argmax")[0], minlength=len(EMOTIONS))
    assert dm.meta.class_counts == tuple(int(c) for c in expected)
    assert len({*dm.dataset("train").rows} & {*dm.dataset("test").rows}) == 0


#: Label rows (sentiment, happy, sad, anger, surprise, disgust, fear) built to tell the rules apart, one video
#: each in the training fold, and the target each rule gives them, worked out by hand (None: dropped).
BUILT_ROWS = {
    "tie": [0, 1, 0, 1, 0, 0, 0],  # happy = anger: no unique peak
    "split": [0, 2 / 3, 1 / 3, 1 / 3, 0, 0, 0],  # happy is exactly half of the sum (4/3): no majority
    "nomajority": [0, 2 / 3, 1, 0, 0, 0, 2 / 3],  # sad is the peak, 1 of 7/3: under half
    "strict": [0, 0, 0, 1, 1 / 3, 0, 0],  # anger is 3/4 of the sum
    "zero": [0.5, 0, 0, 0, 0, 0, 0],  # no emotion
    "alone": [0, 0, 0, 0, 0, 0, 1 / 3],  # fear, the only emotion
}
BY_HAND = {
    "plurality": {"split": 0, "nomajority": 1, "strict": 2, "alone": 5},
    "majority": {"strict": 2, "alone": 5},
    "multilabel": {
        "tie": [1, 0, 1, 0, 0, 0],
        "split": [1, 1, 1, 0, 0, 0],
        "nomajority": [1, 1, 0, 0, 0, 1],
        "strict": [0, 0, 1, 1, 0, 0],
        "zero": [0, 0, 0, 0, 0, 0],
        "alone": [0, 0, 0, 0, 0, 1],
    },
}


@pytest.fixture(scope="module")
def built_rows_corpus(tmp_path_factory):
    """A MOSEI-layout corpus whose labels file holds exactly BUILT_ROWS (the training fold), with one happy
    video in each of the other folds."""
    from tests.test_faults_labels import HAPPY, labelled_corpus

    tmp = tmp_path_factory.mktemp("built_rows")
    rows = BUILT_ROWS | {"v": HAPPY, "t": HAPPY}
    return (tmp, *labelled_corpus(tmp, rows, {"train": list(BUILT_ROWS), "valid": ["v"], "test": ["t"]}))


@pytest.mark.parametrize("rule", ["plurality", "majority", "multilabel"])
def test_label_rules_select_rows_and_targets(built_rows_corpus, rule):
    """Through the DataModule (corpus -> cache -> dataset): each rule keeps the rows and gives the targets
    worked out by hand for rows that tie, split exactly in half, have no majority, or no emotion at all."""
    from mosei_attn.data.datamodule import MoseiDataModule
    from tests.test_faults_data import AUDIO, WORD_DIM, MoseiCorpus

    tmp, root, folds = built_rows_corpus
    corpus = functools.partial(MoseiCorpus, root, folds=folds, word_dim=WORD_DIM)
    text = {"max_words": 4, "dim": WORD_DIM}
    cache_dir = str(tmp / "cache")
    dm = MoseiDataModule(
        corpus, cache_dir=cache_dir, audio=AUDIO, text=text, feature_workers=1, label_rule=rule
    )
    dm.prepare_data()
    dm.setup("fit")
    ds = dm.dataset("train")
    got = {}
    for i in range(len(ds)):
        item = ds[i]
        got[str(ds.cache.video_id[int(item["index"])])] = item["target"].tolist()
    assert got == BY_HAND[rule]
    assert dm.meta.multilabel == (rule == "multilabel") and dm.meta.label_rule == rule


def test_loader_workers_give_the_same_batches(datamodule):
    dm = datamodule()
    first = next(iter(dm.val_dataloader()))
    dm.num_workers = 2
    again = next(iter(dm.val_dataloader()))
    for key in ("spec", "words", "target", "index"):
        assert torch.equal(first[key], again[key])


def test_cache_is_reused(datamodule):
    dm = datamodule()
    path, mtime = dm.cache_path, dm.cache_path.stat().st_mtime_ns
    dm2 = datamodule()
    assert dm2.cache_path == path and path.stat().st_mtime_ns == mtime


def test_missing_corpus_folder_is_a_clear_error(tmp_path):
    from functools import partial

    from mosei_attn.data import MoseiDataModule
    from mosei_attn.data.corpora.mosei import MoseiCorpus

    corpus = partial(MoseiCorpus, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        MoseiDataModule(corpus, cache_dir=str(tmp_path)).prepare_data()


def test_whole_batch_reads_equal_single_items(datamodule, monkeypatch):
    dm = datamodule()
    ds = dm.dataset("val")
    calls, read = [], ds.cache.batch
    monkeypatch.setattr(ds.cache, "batch", lambda rows: (calls.append(len(rows)), read(rows))[1])
    batches = list(dm.val_dataloader())
    assert calls == [len(b["index"]) for b in batches]  # one read per batch, not per segment
    batch = batches[0]  # spec and words float16 as cached, until the model casts them on its device
    assert batch["spec"].dtype == torch.float16 and batch["words"].dtype == torch.float16
    for j in (0, len(batch["index"]) - 1):
        item = ds[j]  # one segment, float32
        assert item["spec"].dtype == torch.float32 and item["words"].dtype == torch.float32
        for key, value in item.items():
            assert torch.equal(batch[key][j].to(value.dtype), value), key


def test_each_epoch_is_a_new_permutation(datamodule):
    dm = datamodule()
    loader, ds = dm.train_dataloader(), dm.dataset("train")
    torch.manual_seed(0)
    epochs = [torch.cat([b["index"] for b in loader]).tolist() for _ in range(2)]
    assert sorted(epochs[0]) == sorted(epochs[1]) == sorted(ds.rows.tolist())
    assert epochs[0] != epochs[1]


def test_model_casts_a_float16_batch_on_its_device(datamodule):
    from mosei_attn.models import AttentionModule

    dm = datamodule()
    batch = next(iter(dm.val_dataloader()))
    model = AttentionModule(meta=dm.meta, optimizer={}, kernels=4, dense=[8]).eval()
    as32 = {k: v.float() if v.dtype == torch.float16 else v for k, v in batch.items()}
    with torch.no_grad():
        (half_in, attn16), (float_in, attn32) = ((o.logits, o.attention) for o in (model(batch), model(as32)))
    assert half_in.dtype == torch.float32 and torch.equal(half_in, float_in) and torch.equal(attn16, attn32)
    model.double()  # the parameters' dtype decides
    with torch.no_grad():
        assert model(batch).logits.dtype == torch.float64
