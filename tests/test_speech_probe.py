"""benchmarks/speech_probe.py: the stressed word's features and the linear probe that reads them."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from benchmarks import speech_probe
from mosei_attn.data.dataset import EXTRA_PREFIX
from mosei_attn.models.attention import AttentionNet
from mosei_attn.models.blocks import mask_inputs


def test_the_word_features_average_its_positions_by_their_share_of_it():
    """Row 0's stressed word fills time position 1 (frames 8-15); row 1's covers half of positions 2 and 3
    (frames 20-27): f is position 1's, and the mean of positions 2 and 3; the spectrogram's the mean of the
    word's frames."""
    torch.manual_seed(0)
    nets = [
        AttentionNet((16, 64), (8, 12), 6, kernels=4, dense=[16, 8], attn_dim=8, mask_padding=True).eval()
        for _ in range(2)
    ]
    trained, untrained = (SimpleNamespace(net=net, dtype=torch.float32) for net in nets)
    stress = torch.zeros(2, 64, dtype=torch.bool)
    stress[0, 8:16], stress[1, 20:28] = True, True
    batch = {
        "spec": torch.rand(2, 1, 16, 64),
        "spec_len": torch.tensor([64, 50]),
        "words": torch.randn(2, 8, 12),
        "word_len": torch.tensor([8, 5]),
        EXTRA_PREFIX + "stress": stress,
    }
    with torch.no_grad():
        got = speech_probe.word_features(trained, untrained, batch)
        spec, _ = mask_inputs(batch["spec"], batch["spec_len"], batch["words"], batch["word_len"])
        for name, net in (("f", nets[0]), ("f_untrained", nets[1])):
            f = net.speech_features(spec, batch["spec_len"])  # (2, d, 8)
            torch.testing.assert_close(got[name][0], f[0, :, 1])
            torch.testing.assert_close(got[name][1], (f[1, :, 2] + f[1, :, 3]) / 2)
    assert not torch.allclose(got["f"], got["f_untrained"])
    torch.testing.assert_close(got["spectrogram"][0], spec[0, 0, :, 8:16].mean(dim=1))
    torch.testing.assert_close(got["spectrogram"][1], spec[1, 0, :, 20:28].mean(dim=1))


def test_the_probe_scores_on_the_half_it_was_not_fit_on():
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 6, (240,), generator=gen)
    noise = torch.randn(240, 150, generator=gen)
    # labels the features do not hold: a probe scored where it was fit would read them all (150 features,
    # 120 segments); on the other half it is at chance
    unrelated = speech_probe.linear_probe(noise, y, 6, seed=0)
    assert unrelated["ua"] < 35
    # labels the features hold: one direction per class
    held = noise[:, :6] * 0.3 + torch.nn.functional.one_hot(y, 6).float()
    separable = speech_probe.linear_probe(held, y, 6, seed=0)
    assert separable["acc"] > 90 and separable["ua"] > 90
