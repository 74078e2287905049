"""Where the attention model may look: eq. 1 over the positions that hold speech, a classifier
that averages over time, and the figures that say where alpha looks against what the gate does alone."""

from __future__ import annotations

import pytest
import torch

from mosei_attn.models.attention import AttentionNet, speech_positions
from mosei_attn.models.attention_stats import AttentionStats, edges
from mosei_attn.models.output import NetOutput
from mosei_attn.synthetic.config import MODES
from mosei_attn.synthetic.cue_metrics import CueMetrics

SPEC, TEXT = (16, 64), (8, 12)
SIZES = {"kernels": 4, "dense": [16, 8], "attn_dim": 8, "mask_padding": True}  # the default run's


def _levels(levels: list[float], stride: int = 2, n_freq: int = 3) -> torch.Tensor:
    """A (1, 1, n_freq, len(levels) * stride) spectrogram whose time position t has level ``levels[t]``."""
    row = torch.tensor(levels).repeat_interleave(stride)
    return row.expand(1, 1, n_freq, -1).clone()


def test_speech_positions_by_hand() -> None:
    spec = _levels([0.1, 0.9, 0.4, 0.6, 0.2, 0.95])
    n = torch.tensor([5])  # the last position (0.95) lies past the segment: never covered, never counted
    # quietest 0.1, loudest 0.9 of the first 5: the midpoint is 0.5
    assert speech_positions(spec, n, 6, 2, 0.5)[0].tolist() == [False, True, False, True, False, False]
    assert speech_positions(spec, n, 6, 2, 0.0)[0].tolist() == [True] * 5 + [False]  # 0 keeps all real ones
    assert speech_positions(spec, n, 6, 2, 1.0)[0].tolist() == [False, True, False, False, False, False]
    high = _levels([0.6, 0.8, 0.75, 0.65])  # quietest 0.6, loudest 0.8: the midpoint is 0.7, not 0.6 + 0.4
    assert speech_positions(high, torch.tensor([4]), 4, 2, 0.5)[0].tolist() == [False, True, True, False]
    flat = _levels([0.3] * 6)
    assert speech_positions(flat, torch.tensor([6]), 6, 2, 0.5).all()  # one level: every position stays


def test_the_gate_follows_the_level_of_each_segment_not_an_absolute_one() -> None:
    quiet = _levels([0.01, 0.09, 0.04, 0.06])
    assert speech_positions(quiet, torch.tensor([4]), 4, 2, 0.5)[0].tolist() == [False, True, False, True]
    loud = 0.5 + quiet  # the same contour, 50 points louder
    assert speech_positions(loud, torch.tensor([4]), 4, 2, 0.5)[0].tolist() == [False, True, False, True]


def _segment(content_at: int, stride: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A segment of silence (0) with the same block of "speech" starting at pooled position ``content_at``."""
    gen = torch.Generator().manual_seed(seed)
    spec = torch.zeros(1, 1, SPEC[0], SPEC[1])
    block = torch.rand(SPEC[0], 3 * stride, generator=gen) + 0.2
    spec[0, 0, :, content_at * stride : (content_at + 3) * stride] = block
    words = torch.randn(1, TEXT[0], TEXT[1], generator=gen)
    return spec, torch.tensor([SPEC[1]]), words, torch.tensor([5])


@pytest.mark.parametrize("gate", [None, 0.5])
def test_the_classifier_cannot_read_where_in_the_segment_the_speech_is(gate) -> None:
    """The same speech two pooled positions later (silence around it) gives the same logits: the mean head
    sees the classifier CNN's mean over time, so no absolute position can carry information. The paper's
    flattened head reads every position on its own: there the logits move, alpha does not."""
    torch.manual_seed(0)
    net = AttentionNet(SPEC, TEXT, 6, speech_gate=gate, head="mean", **SIZES).eval()
    flat = AttentionNet(SPEC, TEXT, 6, speech_gate=gate, head="flatten", **SIZES).eval()
    stride = net.time_stride
    with torch.no_grad():
        early, late = net(*_segment(2, stride)), net(*_segment(4, stride))
        flat_early, flat_late = flat(*_segment(2, stride)), flat(*_segment(4, stride))
    torch.testing.assert_close(early.logits, late.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(early.alpha[0, 2:5], late.alpha[0, 4:7], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(flat_early.alpha[0, 2:5], flat_late.alpha[0, 4:7], rtol=1e-4, atol=1e-6)
    assert not torch.allclose(flat_early.logits, flat_late.logits, rtol=1e-4, atol=1e-5)


def test_with_the_gate_silence_takes_no_weight_and_eq1_covers_only_speech() -> None:
    torch.manual_seed(0)
    net = AttentionNet(SPEC, TEXT, 6, speech_gate=0.5, **SIZES).eval()
    stride = net.time_stride
    with torch.no_grad():
        out = net(*_segment(2, stride))
    covered = out.covered[0]
    assert covered.tolist() == [i in (2, 3, 4) for i in range(net.time_p)]
    cols = out.attention[0][:, :2]  # real word columns: each a softmax over the covered positions
    torch.testing.assert_close(cols[covered].sum(dim=0), torch.ones(2))
    assert not cols[~covered].any() and not out.alpha[0][~covered].any()
    assert out.alpha[0][covered].mean() == pytest.approx(1.0)  # mean 1 over the covered positions
    assert not out.weights[0, : 2 * stride].any()  # the silent frames before the speech are muted
    plain = AttentionNet(SPEC, TEXT, 6, **SIZES).eval()
    with torch.no_grad():
        assert plain(*_segment(2, stride)).covered[0].all()  # without the gate: every attended position


def test_a_segment_without_words_is_the_plain_spectrogram_with_or_without_the_gate() -> None:
    net = AttentionNet(SPEC, TEXT, 6, speech_gate=0.5, **SIZES).eval()
    spec, spec_len, words, _ = _segment(2, net.time_stride)
    with torch.no_grad():
        out = net(spec, spec_len, words, torch.tensor([0]))
    assert out.weights.eq(1.0).all()


def test_bad_gate_is_refused() -> None:
    with pytest.raises(ValueError, match="speech_gate"):
        AttentionNet(SPEC, TEXT, 6, speech_gate=1.5, **SIZES)


def test_onset_counts_the_first_covered_position_and_chance_its_number() -> None:
    alpha = torch.tensor([[0.0, 0.6, 0.2, 0.2, 0.0], [0.0, 0.1, 0.2, 0.7, 0.0]])
    covered = torch.tensor([[False, True, True, True, False], [False, True, True, True, True]])
    onset, last, chance = edges(alpha, covered)
    assert onset.tolist() == [1.0, 0.0] and last.tolist() == [0.0, 0.0]
    assert chance.tolist() == pytest.approx([1 / 3, 1 / 4])
    stats = AttentionStats()
    out = NetOutput(torch.zeros(2, 6), alpha[:, :, None], alpha, torch.tensor([5, 5]), None, covered)
    stats.update(out)
    got = stats.compute()
    assert got["attn_onset"] == pytest.approx(0.5) and got["attn_peak"] == pytest.approx(
        (0.6 * 3 + 0.7 * 4) / 2
    )


def test_pointing_floor_is_what_an_even_spread_over_the_covered_positions_scores() -> None:
    """Segment of 8 positions, 4 frames each; the stressed word is position 2; eq. 1 covers 2, 3, 4, 5.
    An even spread over them puts 1/4 on the word, whose share of the segment is 1/8: floor 2.0; an alpha
    all on the word scores 8.0."""
    alpha = torch.zeros(1, 8)
    alpha[0, 2] = 8.0
    covered = torch.zeros(1, 8, dtype=torch.bool)
    covered[0, 2:6] = True
    stress = torch.zeros(1, 32, dtype=torch.bool)
    stress[0, 8:12] = True
    out = NetOutput(torch.zeros(1, 6), alpha[:, :, None], alpha, torch.tensor([8]), None, covered)
    metric = CueMetrics(MODES, stride=4)
    metric.update(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]), out, stress)
    got = metric.compute()
    assert got["pointing"] == pytest.approx(8.0) and got["pointing_floor"] == pytest.approx(2.0)
    assert got["pointing_floor_prosody_only"] == pytest.approx(2.0) and "pointing_floor_both" not in got
