"""Both models: shapes, learning, length masking, fast == reference path, edge cases, checkpoints."""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mosei_attn.data.meta import DataMeta
from mosei_attn.models import AttentionModule, ShallowModule
from mosei_attn.models.base import inverse_frequency_weights
from mosei_attn.reporting.run_report import format_table
from tests.reference_models import to_reference

EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
SGD = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 1e-3}
ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-2}
TINY = {"kernels": 4, "dense": [16, 8]}  # small nets on the tiny shapes below
MODELS = [AttentionModule, ShallowModule]


def tiny_meta(
    rule: str = "argmax", spec: tuple[int, int] = (16, 32), text: tuple[int, int] = (8, 12)
) -> DataMeta:
    return DataMeta(EMOTIONS, rule, spec, text, class_counts=(40, 20, 10, 5, 4, 1))


def make_batch(meta: DataMeta, spec_len: list[int], word_len: list[int], seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    (n_freq, n_time), (n_words, dim), b = meta.spec_shape, meta.text_shape, len(spec_len)
    target = (
        torch.randint(0, 2, (b, meta.num_classes), generator=gen).float()
        if meta.multilabel
        else torch.arange(b) % meta.num_classes
    )
    return {
        "spec": torch.rand(b, 1, n_freq, n_time, generator=gen),
        "spec_len": torch.tensor(spec_len),
        "words": torch.randn(b, n_words, dim, generator=gen),
        "word_len": torch.tensor(word_len),
        "speech": torch.rand(b, n_time, generator=gen) < 0.7,  # the voice activity a cache row holds
        "target": target,
        "index": torch.arange(b),
    }


def run(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The model's logits (B, C) and attention matrix (B, m, n) (None: shallow) for ``batch``."""
    out = model(batch)
    return out.logits, out.attention


@pytest.mark.parametrize("cls", MODELS)
def test_output_shapes_at_paper_sizes(cls: type) -> None:
    meta = tiny_meta(spec=(200, 400), text=(40, 300))
    model = cls(meta, SGD).eval()
    with torch.no_grad():
        logits, attn = run(model, make_batch(meta, [400, 150], [40, 7]))
    assert logits.shape == (2, 6)
    if cls is AttentionModule:
        assert attn.shape == (2, 400 // 8, 40 // 2)  # (B, m = T', n = L')
    else:
        assert attn is None


def test_pool_width_sets_the_attention_grid() -> None:
    model = AttentionModule(tiny_meta(), SGD, pool=4, pool_blocks=2, mask_padding=True, **TINY).eval()
    batch = make_batch(model.meta, [32, 5], [8, 3])
    with torch.no_grad():
        attn = run(model, batch)[1]
    assert attn.shape == (2, 32 // 16, 8 // 4)
    assert torch.all(attn[1, 1:] == 0)  # 5 frames -> ceil(5 / 16) = 1 real time position


#: Adam steps to halve the loss on one batch of random inputs. The attention model's head reads the mean
#: over time (K x F' features, not K x F' x T'), so memorising noise takes it more steps than 20.
STEPS = 40


@pytest.mark.parametrize("cls", MODELS)
def test_a_few_steps_overfit_one_batch(cls: type) -> None:
    torch.manual_seed(0)
    model = cls(tiny_meta(), ADAM, kernels=8, dense=[32, 16], dropout=0.0)
    batch = make_batch(model.meta, [32, 20, 9, 32, 15, 26], [8, 3, 5, 1, 8, 6])
    opt = model.configure_optimizers()
    losses = []
    for _ in range(STEPS):
        loss = model.loss(run(model, batch)[0], batch["target"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.5 * losses[0]  # Adam at this rate may spike once: judge the last few


@pytest.mark.parametrize("cls", MODELS)
def test_padding_content_does_not_matter(cls: type) -> None:
    torch.manual_seed(0)
    model = cls(tiny_meta(), SGD, mask_padding=True, **TINY).eval()
    batch = make_batch(model.meta, [32, 13], [8, 3])
    noisy = {k: v.clone() for k, v in batch.items()}
    noisy["spec"][1, ..., 13:] = 5.0
    noisy["words"][1, 3:] = torch.randn(5, 12)
    with torch.no_grad():
        (logits, attn), (logits2, attn2) = run(model, batch), run(model, noisy)
    assert torch.allclose(logits, logits2, atol=1e-6)
    if cls is AttentionModule:
        assert torch.allclose(attn, attn2, atol=1e-6)
        # sample 1: 13 frames -> ceil(13 / 8) = 2 real times; 3 words -> ceil(3 / 2) = 2 real words
        assert torch.all(attn[1, 2:] == 0) and torch.all(attn[1, :, 2:] == 0)
        assert torch.allclose(attn[1, :, :2].sum(dim=0), torch.ones(2), atol=1e-5)
        assert torch.allclose(attn[0].sum(dim=0), torch.ones(4), atol=1e-5)


@pytest.mark.parametrize("cls", MODELS)
def test_fast_path_matches_reference(cls: type) -> None:
    torch.manual_seed(0)
    fast = cls(tiny_meta(), SGD, **TINY).eval()
    ref = to_reference(cls(tiny_meta(), SGD, **TINY)).eval()
    ref.load_state_dict(fast.state_dict())
    batch = make_batch(fast.meta, [32, 13, 1], [8, 3, 0])
    outs = []
    for model in (fast, ref):
        logits, attn = run(model, batch)
        logits.square().sum().backward()
        grads = [p.grad for p in model.parameters()]
        outs.append((logits, attn, grads))
    (l1, a1, g1), (l2, a2, g2) = outs
    assert torch.allclose(l1, l2, atol=1e-5)
    assert a1 is None and a2 is None or torch.allclose(a1, a2, atol=1e-5)
    assert all(torch.allclose(x, y, atol=1e-5, rtol=1e-4) for x, y in zip(g1, g2, strict=True))


def test_no_words_or_no_frames_give_the_plain_spectrogram() -> None:
    torch.manual_seed(0)
    model = AttentionModule(tiny_meta(), SGD, mask_padding=True, head="mean", **TINY).eval()
    batch = make_batch(model.meta, [32, 0], [0, 0])
    with torch.no_grad():
        logits, attn = run(model, batch)
        spec, spec_len = batch["spec"][:1], batch["spec_len"][:1]
        feats = model.net.classifier(spec, spec_len)  # (1, K, F', T'): 32 frames -> all 4 positions real
        plain = model.net.head(feats.mean(dim=-1).flatten(1))
        # no frames: the classifier sees no real position, its features are 0, whatever the spectrogram held
        silent = model.net.classifier(batch["spec"][1:], batch["spec_len"][1:])
        nothing = model.net.head(torch.zeros(1, silent.shape[1] * silent.shape[2]))
    assert torch.all(attn == 0) and silent.abs().max() == 0
    assert torch.allclose(logits[:1], plain, atol=1e-5)  # uniform weights 1 on every real frame
    assert torch.allclose(logits[1:], nothing, atol=1e-6)


def test_class_weights_from_counts(monkeypatch) -> None:
    w = inverse_frequency_weights((40, 20, 10, 5, 4, 1))
    assert w.mean().item() == pytest.approx(1.0)
    assert (w[5] / w[0]).item() == pytest.approx(40.0)
    # a class without a training sample weighs as one with a single sample: 1/5, 1, 1/5 over their mean 7/15
    no_sample = inverse_frequency_weights((5, 0, 5))
    assert no_sample.tolist() == pytest.approx([3 / 7, 15 / 7, 3 / 7])
    model = AttentionModule(tiny_meta(), SGD, class_weights=True, **TINY)
    logits, target = torch.randn(6, 6), torch.arange(6)
    assert torch.allclose(model.loss(logits, target), F.cross_entropy(logits, target, weight=w))
    assert AttentionModule(tiny_meta(), SGD, class_weights=False, **TINY).class_weight is None
    with pytest.raises(ValueError, match="true or false"):  # the measured-and-removed power (docs/choices.md)
        AttentionModule(tiny_meta(), SGD, class_weights=0.5, **TINY)
    deferred = AttentionModule(tiny_meta(), SGD, class_weights=True, class_weights_from_epoch=2, **TINY)
    for epoch, expected in ((0, F.cross_entropy(logits, target)), (2, model.loss(logits, target))):
        monkeypatch.setattr(AttentionModule, "current_epoch", property(lambda self, e=epoch: e))
        assert torch.allclose(deferred.loss(logits, target), expected), epoch
    assert not torch.allclose(F.cross_entropy(logits, target), model.loss(logits, target))
    with pytest.raises(ValueError, match="class_counts"):
        AttentionModule(DataMeta(EMOTIONS, "argmax", (16, 32), (8, 12)), SGD, class_weights=True, **TINY)


@pytest.mark.filterwarnings("ignore:.*trainer. reference is not registered")
@pytest.mark.parametrize("cls", MODELS)
def test_multilabel_loss_and_prediction(cls: type) -> None:
    model = cls(tiny_meta("multilabel"), SGD, class_weights=True, **TINY).eval()  # eval: no dropout
    batch = make_batch(model.meta, [32, 20, 9], [8, 3, 5])
    loss = model.training_step(batch, 0)
    logits = run(model, batch)[0]
    pos_weight = inverse_frequency_weights(model.meta.class_counts)
    expected = F.binary_cross_entropy_with_logits(logits, batch["target"], pos_weight=pos_weight)
    assert torch.allclose(loss, expected, atol=1e-6)
    probs = model.predict_step(batch, 0)["probs"]
    assert probs.shape == (3, 6) and torch.all((probs >= 0) & (probs <= 1))
    assert not torch.allclose(probs.sum(dim=1), torch.ones(3))  # independent sigmoids, not a softmax


def test_scheduler_keys_split_between_lightning_and_constructor() -> None:
    sched = {
        "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "_partial_": True,
        "patience": 2,
        "monitor": "val/loss",
        "interval": "epoch",
    }
    conf = AttentionModule(tiny_meta(), SGD, scheduler=sched, **TINY).configure_optimizers()
    assert isinstance(conf["optimizer"], torch.optim.SGD)
    assert conf["lr_scheduler"]["monitor"] == "val/loss" and conf["lr_scheduler"]["scheduler"].patience == 2


@pytest.mark.parametrize("cls", MODELS)
def test_fit_test_and_checkpoint_round_trip(cls: type, tmp_path) -> None:
    L.seed_everything(0)
    model = cls(tiny_meta().to_dict(), ADAM, **TINY)
    batches = [make_batch(model.meta, [32, 20, 9, 30], [8, 3, 5, 0], seed=s) for s in range(2)]
    loader = DataLoader(batches, batch_size=None)
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, loader, loader)
    for key in ("train/loss", "val/loss", "val/wa", "val/ua", "val/ua_best", "val/f1_macro", "val/f1_fear"):
        assert key in trainer.callback_metrics, key
    trainer.test(model, loader, verbose=False)
    assert model.test_results["confusion"].sum() == 8 and "test/ua" in trainer.callback_metrics
    assert "class accuracy" in format_table(model.test_results, model.meta.emotion_names)

    trainer.save_checkpoint(tmp_path / "model.ckpt")
    loaded = cls.load_from_checkpoint(tmp_path / "model.ckpt").eval()  # no data, meta from hparams
    assert loaded.meta == model.meta and loaded.hparams.kernels == TINY["kernels"]
    model.eval()
    with torch.no_grad():
        assert torch.allclose(run(model, batches[0])[0], run(loaded, batches[0])[0], atol=1e-6)


@pytest.mark.slow
def test_compile_keeps_outputs_and_checkpoint_keys() -> None:
    torch.manual_seed(0)
    model = AttentionModule(tiny_meta(), SGD, compile=True, **TINY).eval()
    batch = make_batch(model.meta, [32, 13], [8, 3])
    keys = set(model.state_dict())
    with torch.no_grad():
        eager = run(model, batch)
        model.setup("fit")  # compiles the network in place
        compiled = run(model, batch)
    assert torch.allclose(eager[0], compiled[0], atol=1e-5) and torch.allclose(
        eager[1], compiled[1], atol=1e-5
    )
    assert set(model.state_dict()) == keys


@pytest.mark.parametrize("cls", MODELS)
def test_he_init_scales_the_relu_layers(cls: type) -> None:
    """model.init=he: He-normal weights (std sqrt(2 / fan_in)) and zero biases where a ReLU follows; the
    logits layer keeps PyTorch's default (uniform within 1 / sqrt(fan_in), nonzero bias)."""
    torch.manual_seed(0)
    net = cls(tiny_meta(), SGD, init="he", kernels=16, dense=[256, 64]).net
    relu_layers = [*net.speech.convs, *net.text.convs, *net.head.hidden]
    for layer in relu_layers:
        fan_in = layer.weight[0].numel()
        assert layer.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.25)
        assert torch.all(layer.bias == 0)
    out = net.head.out
    assert out.weight.abs().max() <= out.in_features**-0.5 and out.bias.abs().sum() > 0
    default = cls(tiny_meta(), SGD, init="default", kernels=16, dense=[256, 64]).net
    assert all(torch.any(layer.bias != 0) for layer in [*default.speech.convs, *default.head.hidden])
    with pytest.raises(ValueError, match="model.init"):
        cls(tiny_meta(), SGD, init="xavier", **TINY)


def test_model_summary_counts_the_networks_operations() -> None:
    """Lightning's model summary runs the module's example input (one sample of the data's shapes) and counts
    its operations: for the shallow net those of its convolutions and dense layers, 2 per multiply-add."""
    from itertools import pairwise

    from lightning.pytorch.utilities.model_summary import ModelSummary

    meta = tiny_meta()
    (n_freq, n_time), (n_words, dim), k = meta.spec_shape, meta.text_shape, 3
    kernels, dense = TINY["kernels"], TINY["dense"]
    model = ShallowModule(meta=meta.to_dict(), optimizer=SGD, kernel_size=k, **TINY)
    speech = sum(  # three conv blocks (pool 2), each on the previous block's pooled grid
        2 * k * k * c_in * kernels * (n_freq // 2**b) * (n_time // 2**b)
        for b, c_in in enumerate((1, kernels, kernels))
    )
    text = 2 * k * dim * kernels * n_words
    flat = kernels * (n_freq // 8) * (n_time // 8) + kernels * (n_words // 2)  # after 3 and 1 pools of 2
    sizes = [flat, *dense, meta.num_classes]
    head = sum(2 * a * b for a, b in pairwise(sizes))
    assert ModelSummary(model).total_flops == speech + text + head
    compiled = ShallowModule(meta=meta.to_dict(), optimizer=SGD, compile=True)
    assert compiled.example_input_array is None  # no batch-of-one forward for a network compiled to fit


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")  # the steps called without a Trainer
@pytest.mark.parametrize("cls", MODELS)
def test_words_dropout_leaves_out_the_words_of_a_share_of_the_training_segments(cls: type) -> None:
    """In training, each segment loses its words (length 0, vectors 0) with probability words_dropout, drawn
    anew for every batch; the rest of the batch is untouched, and the logits of a segment left without words
    are those it gets from the network given no words. Evaluation never drops words."""
    meta = tiny_meta()
    batch = make_batch(meta, [32] * 64, [8] * 64)
    model = cls(meta, SGD, words_dropout=0.25, mask_padding=True, **TINY)
    torch.manual_seed(0)
    dropped = model.drop_words(batch)
    gone = dropped["word_len"] == 0
    assert 6 <= int(gone.sum()) <= 26  # 16 expected of 64
    assert (dropped["words"][gone] == 0).all()
    assert torch.equal(dropped["words"][~gone], batch["words"][~gone])
    assert torch.equal(dropped["word_len"][~gone], batch["word_len"][~gone])
    assert all(torch.equal(dropped[k], batch[k]) for k in ("spec", "spec_len", "speech", "target"))
    assert not torch.equal(model.drop_words(batch)["word_len"], dropped["word_len"])  # a new draw
    model.eval()
    with torch.no_grad():
        no_words = {k: torch.zeros_like(batch[k]) for k in ("words", "word_len")}
        alone = model({**batch, **no_words})
        torch.testing.assert_close(model(dropped).logits[gone], alone.logits[gone])
    # the training step drops them, validation does not
    seen = []
    model.net.register_forward_pre_hook(lambda _, args: seen.append(int((args[3] == 0).sum())))
    model.train()
    model.training_step(batch, 0)
    model.validation_step(batch, 0)
    assert seen[0] > 0 and seen[1:] == [0] * (len(seen) - 1)
    assert cls(meta, SGD, **TINY).drop_words(batch) is batch  # 0 (the default): the batch as it is
    with pytest.raises(ValueError, match="words_dropout"):
        cls(meta, SGD, words_dropout=1.0, **TINY)
