"""benchmarks/alpha_probe.py: alpha's values moved to other covered positions, or made flat, before the
spectrogram is weighed."""

from __future__ import annotations

import torch

from benchmarks import alpha_probe
from mosei_attn.models.attention import AttentionNet


def test_moved_permutes_each_rows_values_over_its_covered_positions_only():
    alpha = torch.tensor([[0.5, 1.5, 2.0, 0.0, 0.0], [3.0, 0.0, 1.0, 1.0, 0.0]])
    covered = torch.tensor([[True, True, True, False, False], [True, False, True, True, False]])
    out = alpha_probe.moved(alpha, covered, torch.Generator().manual_seed(0))
    for row in range(2):
        assert sorted(out[row, covered[row]].tolist()) == sorted(alpha[row, covered[row]].tolist())
        assert (out[row, ~covered[row]] == 0).all()
    assert not torch.equal(out, alpha)  # this seed moves something
    again = alpha_probe.moved(alpha, covered, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # a fixed permutation per seed


def test_the_network_weighs_its_frames_with_the_changed_alpha():
    """Through the real network's attend: ``moved`` keeps alpha's values per segment (in other places),
    ``flat`` gives 1 on every covered position; the frame weights extend whichever alpha, position by
    position (the last attended one over the frames past it)."""
    torch.manual_seed(0)
    net = AttentionNet((16, 64), (8, 12), 6, kernels=4, dense=[16, 8], attn_dim=8, mask_padding=True).eval()
    spec, words = torch.rand(2, 1, 16, 64), torch.randn(2, 8, 12)
    spec_len, word_len = torch.tensor([64, 37]), torch.tensor([8, 3])
    own_attend = AttentionNet.attend
    with torch.no_grad():
        own = net(spec, spec_len, words, word_len)
        try:
            results = {}
            for way in ("moved", "flat"):
                AttentionNet.attend = alpha_probe.reweigh(way, torch.Generator().manual_seed(1))
                results[way] = net(spec, spec_len, words, word_len)
        finally:
            AttentionNet.attend = own_attend
    covered = own.covered
    for b in range(2):
        mine = results["moved"].alpha[b, covered[b]]
        assert torch.equal(mine.sort().values, own.alpha[b, covered[b]].sort().values)
    assert not torch.equal(results["moved"].alpha, own.alpha)
    assert torch.equal(results["flat"].alpha, covered.float())
    for out in results.values():
        idx = torch.minimum(torch.arange(64) // net.time_stride, (out.attended - 1)[:, None])
        assert torch.equal(out.weights, out.alpha.gather(1, idx))
        assert not torch.equal(out.logits, own.logits)  # the classifier reads the weighed spectrogram
