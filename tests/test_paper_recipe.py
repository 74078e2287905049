"""experiment=paper_*: the paper's own recipe (initialisation, no masks, no class weights, the flattened head,
eq. 2's alpha as it is); what remains of ours where the paper is silent is in docs/choices.md."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from mosei_attn.config import CONFIG_DIR
from mosei_attn.models.attention import AttentionNet
from mosei_attn.models.blocks import keras_init
from mosei_attn.training.build import build_model
from tests.conftest import compose_config

META = {
    "emotion_names": ["happy", "sad", "anger", "surprise", "disgust", "fear"],
    "spec_shape": [32, 64],
    "text_shape": [8, 300],
    "class_counts": [10, 5, 5, 5, 5, 5],
    "label_rule": "argmax",
}


@pytest.mark.parametrize("experiment", ["paper_attention", "paper_shallow"])
def test_paper_experiment_is_the_papers_recipe(tmp_path, experiment: str) -> None:
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path / "run")
    model = build_model(cfg, META)
    assert model.hparams.init == "keras" and model.hparams.class_weights is False
    assert model.class_weight is None and model.net.mask_padding is False
    if experiment == "paper_attention":  # eq. 1 over every position, silence included; the default gates
        assert model.net.speech_gate is False
        default = build_model(compose_config("train", [], tmp_path / "default"), META)
        ours = OmegaConf.load(Path(CONFIG_DIR) / "model" / "ours" / "attention.yaml")
        assert ours.speech_gate is True and default.net.speech_gate is True  # the default covers speech only
        # figure 1's head on the flattened K x F' x T' features, eq. 2's alpha as it is; ours: mean, mean 1
        assert (model.net.head_kind, model.net.alpha_scale) == ("flatten", "none")
        assert (default.net.head_kind, default.net.alpha_scale) == ("mean", "mean_one")
        assert model.hparams.words_dropout == 0.0 and ours.words_dropout > 0  # paper: every word
        assert default.hparams.words_dropout == ours.words_dropout
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    assert type(optimizer) is torch.optim.SGD
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["momentum"] == 0
    assert cfg.data.batch_size == 32 and cfg.get("scheduler") is None
    assert cfg.weight_average is None  # the weights as trained, no moving average
    assert compose_config("train", [], tmp_path / "default_average").weight_average is not None
    assert (
        list(cfg.data.audio.values()) != []
        and cfg.data.audio.freq_bins == 200
        and cfg.data.audio.max_frames == 400
    )


def test_keras_init_is_glorot_uniform_with_zero_biases() -> None:
    torch.manual_seed(0)
    net = AttentionNet((32, 64), (8, 300), 6)
    keras_init(net)
    conv = net.speech.convs[1]  # 32 -> 32 channels, 3 x 3: fan_in = fan_out = 32 * 9
    bound = math.sqrt(6 / (32 * 9 + 32 * 9))
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    assert conv.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    first = net.head.hidden[0]  # dense: fan_in = flattened features, fan_out = 1024
    bound = math.sqrt(6 / (first.in_features + first.out_features))
    assert first.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d | torch.nn.Conv2d | torch.nn.Linear)]
    assert len(layers) == 3 + 1 + 2 + 3 + 3 + 1  # speech, text, projections, classifier, hidden, logits
    assert all(torch.count_nonzero(m.bias) == 0 for m in layers)


def test_without_masks_the_softmax_covers_the_padding() -> None:
    """The paper's eq. 1 as written: every time position and word column takes part, padding included."""
    torch.manual_seed(0)
    spec, words = torch.rand(1, 1, 32, 64), torch.randn(1, 8, 300)
    spec_len, word_len = torch.tensor([20]), torch.tensor([3])  # 20 of 64 frames, 3 of 8 words
    masked = AttentionNet((32, 64), (8, 300), 6, mask_padding=True)(spec, spec_len, words, word_len)
    paper = AttentionNet((32, 64), (8, 300), 6)(spec, spec_len, words, word_len)  # the default: the paper's
    # 64 frames / 8 = 8 positions; 20 frames hold 2 whole ones. 8 words / 2 = 4 columns; 3 words fill 2.
    assert masked.attended.tolist() == [2] and paper.attended.tolist() == [8]
    assert (
        torch.count_nonzero(masked.attention[0, 2:]) == 0
        and torch.count_nonzero(masked.attention[0, :, 2:]) == 0
    )
    assert torch.all(paper.attention[0, 2:] > 0) and torch.all(paper.attention[0, :, 2:] > 0)
    torch.testing.assert_close(paper.attention[0].sum(dim=0), torch.ones(4))


@pytest.mark.parametrize("text_path", [False, True])
def test_the_heads_input_is_derived_from_the_shapes(text_path: bool) -> None:
    """flatten: K x F' x T' features (+ K x L' with the text path); mean: K x F'."""
    k, (n_freq, n_time), (n_words, _) = 4, (32, 64), (8, 300)
    sizes = {"kernels": k, "dense": [16, 8], "text_path": text_path}
    text = k * (n_words // 2) if text_path else 0
    for pool_blocks in (2, 3):
        f, t = n_freq // 2**pool_blocks, n_time // 2**pool_blocks
        flat = AttentionNet(
            (n_freq, n_time), (n_words, 300), 6, pool_blocks=pool_blocks, head="flatten", **sizes
        )
        mean = AttentionNet(
            (n_freq, n_time), (n_words, 300), 6, pool_blocks=pool_blocks, head="mean", **sizes
        )
        assert flat.head.hidden[0].in_features == k * f * t + text
        assert mean.head.hidden[0].in_features == k * f + text
    with pytest.raises(ValueError, match="model.head"):
        AttentionNet((n_freq, n_time), (n_words, 300), 6, head="sum")
    with pytest.raises(ValueError, match="model.alpha_scale"):
        AttentionNet((n_freq, n_time), (n_words, 300), 6, alpha_scale="max")


def _pair(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Two segments of a 64-frame batch: the first 24 frames long, the second 64."""
    gen = torch.Generator().manual_seed(seed)
    spec = torch.rand(2, 1, 32, 64, generator=gen)
    spec[0, ..., 24:] = 0.0
    return spec, torch.tensor([24, 64]), torch.randn(2, 8, 300, generator=gen), torch.tensor([5, 8])


def test_mean_head_a_segment_padded_in_a_batch_is_the_segment_alone() -> None:
    """Under ``head="mean"`` with ``mask_padding``, a 24-frame segment in a 64-frame batch beside a longer
    one gives the logits it gives alone at its own length (a network for 24 frames, the same weights)."""
    torch.manual_seed(0)
    batch_net = AttentionNet(
        (32, 64), (8, 300), 6, head="mean", mask_padding=True, kernels=4, dense=[16, 8]
    ).eval()
    alone_net = AttentionNet(
        (32, 24), (8, 300), 6, head="mean", mask_padding=True, kernels=4, dense=[16, 8]
    ).eval()
    alone_net.load_state_dict(batch_net.state_dict())  # the same parameters: the mean head ignores T
    spec, spec_len, words, word_len = _pair()
    with torch.no_grad():
        in_batch = batch_net(spec, spec_len, words, word_len).logits[0]
        alone = alone_net(spec[:1, ..., :24], spec_len[:1], words[:1], word_len[:1]).logits[0]
    torch.testing.assert_close(in_batch, alone, rtol=1e-5, atol=1e-6)


def test_flatten_head_a_segment_padded_in_a_batch_is_the_segment_alone_at_the_batchs_length() -> None:
    """Under ``head="flatten"`` the head's weights are made for T' positions, so a segment runs at the batch's
    length, never at its own. What holds with ``mask_padding``: the same logits in a batch as alone, and the
    classifier's features past its end exactly 0 (the response to silence), whatever the padding holds."""
    torch.manual_seed(0)
    net = AttentionNet((32, 64), (8, 300), 6, head="flatten", kernels=4, dense=[16, 8]).eval()
    spec, spec_len, words, word_len = _pair()
    noisy = spec.clone()
    noisy[0, ..., 24:] = 5.0
    with torch.no_grad():
        in_batch = net(spec, spec_len, words, word_len).logits[0]
        alone = net(noisy[:1], spec_len[:1], words[:1], word_len[:1]).logits[0]
        feats = net.classifier(spec[:1], spec_len[:1])  # (1, K, F', T'): 24 frames -> 3 real positions
    torch.testing.assert_close(in_batch, alone, rtol=1e-5, atol=1e-6)
    assert feats[..., 3:].abs().max() == 0 and feats[..., :3].abs().max() > 0


def test_alpha_unscaled_is_eq2s_sum_over_the_words() -> None:
    """``alpha_scale="none"``: alpha sums to the number of word columns (each a softmax over time);
    ``"mean_one"``: the same alpha rescaled to average 1 over the positions eq. 1 covers."""
    torch.manual_seed(0)
    spec, spec_len, words, word_len = _pair()
    nets = {
        s: AttentionNet((32, 64), (8, 300), 6, alpha_scale=s, mask_padding=True, kernels=4, dense=[16, 8])
        for s in ("none", "mean_one")
    }
    nets["mean_one"].load_state_dict(nets["none"].state_dict())
    with torch.no_grad():
        paper, ours = (nets[s].eval()(spec, spec_len, words, word_len) for s in ("none", "mean_one"))
    # 5 words -> 3 columns, 8 words -> 4; 24 frames -> 3 attended positions, 64 -> 8
    torch.testing.assert_close(paper.alpha.sum(dim=1), torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(ours.alpha.sum(dim=1), torch.tensor([3.0, 8.0]))
    torch.testing.assert_close(ours.alpha, paper.alpha * torch.tensor([[3 / 3], [8 / 4]]))
