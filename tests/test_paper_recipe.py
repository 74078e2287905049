"""experiment=paper_*: the paper's own recipe, nothing of ours (initialisation, masks, class weights)."""

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
        gate = OmegaConf.load(Path(CONFIG_DIR) / "model" / "attention.yaml").speech_gate
        assert gate is True and default.net.speech_gate is True  # the default covers speech only
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
    masked = AttentionNet((32, 64), (8, 300), 6)(spec, spec_len, words, word_len)
    paper = AttentionNet((32, 64), (8, 300), 6, mask_padding=False)(spec, spec_len, words, word_len)
    # 64 frames / 8 = 8 positions; 20 frames hold 2 whole ones. 8 words / 2 = 4 columns; 3 words fill 2.
    assert masked.attended.tolist() == [2] and paper.attended.tolist() == [8]
    assert (
        torch.count_nonzero(masked.attention[0, 2:]) == 0
        and torch.count_nonzero(masked.attention[0, :, 2:]) == 0
    )
    assert torch.all(paper.attention[0, 2:] > 0) and torch.all(paper.attention[0, :, 2:] > 0)
    torch.testing.assert_close(paper.attention[0].sum(dim=0), torch.ones(4))
