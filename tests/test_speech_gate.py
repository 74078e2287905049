"""Where the attention model may look: eq. 1 over the positions the voice activity detector hears as speech
(quiet speech included), a classifier that averages over time, and the figures that say where alpha looks
against what the gate does alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures
from mosei_attn.inference import segment_features, to_batch
from mosei_attn.models.attention import AttentionNet, speech_positions
from mosei_attn.models.attention_stats import AttentionStats, edges
from mosei_attn.models.output import NetOutput
from mosei_attn.synthetic.config import MODES
from mosei_attn.synthetic.cue_metrics import CueMetrics
from tests.corpus_helpers import SAMPLE_RATE, spoken

SPEC, TEXT = (16, 64), (8, 12)
SIZES = {"kernels": 4, "dense": [16, 8], "attn_dim": 8, "mask_padding": True}  # the default run's


def _speech(pattern: str, stride: int = 2) -> torch.Tensor:
    """(1, len(pattern) * stride) speech frames: a "1" position holds one speech frame (its last), "0"
    none."""
    frames = torch.zeros(1, len(pattern) * stride, dtype=torch.bool)
    for t, c in enumerate(pattern):
        frames[0, (t + 1) * stride - 1] = c == "1"
    return frames


def test_speech_positions_by_hand() -> None:
    speech = _speech("010110")
    n = torch.tensor([5])  # the last position lies past the segment: never covered
    assert speech_positions(speech, n, 6, 2)[0].tolist() == [False, True, False, True, True, False]
    assert speech_positions(_speech("000001"), n, 6, 2)[0].tolist() == [True] * 5 + [False]  # none heard
    short = _speech("0100")  # fewer frames than positions x stride: the missing ones hold no speech
    assert speech_positions(short, torch.tensor([6]), 6, 2)[0].tolist() == [False, True] + [False] * 4


def test_a_segment_with_no_speech_keeps_all_its_real_positions() -> None:
    speech = torch.zeros(2, 16, dtype=torch.bool)
    speech[1, 5] = True
    got = speech_positions(speech, torch.tensor([3, 4]), 4, 4)
    assert got.tolist() == [[True, True, True, False], [False, True, False, False]]


def _segment(content_at: int, stride: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A segment of silence (0) with the same block of "speech" starting at pooled position ``content_at``,
    and its speech mask: the block's frames."""
    gen = torch.Generator().manual_seed(seed)
    spec = torch.zeros(1, 1, SPEC[0], SPEC[1])
    block = torch.rand(SPEC[0], 3 * stride, generator=gen) + 0.2
    spec[0, 0, :, content_at * stride : (content_at + 3) * stride] = block
    words = torch.randn(1, TEXT[0], TEXT[1], generator=gen)
    speech = spec[0, 0].amax(dim=0, keepdim=True) > 0  # (1, T)
    return spec, torch.tensor([SPEC[1]]), words, torch.tensor([5]), speech


@pytest.mark.parametrize("gate", [False, True])
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
    net = AttentionNet(SPEC, TEXT, 6, speech_gate=True, **SIZES).eval()
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
    with pytest.raises(ValueError, match="speech mask"):
        net(*_segment(2, stride)[:4])  # the gate without the mask


def test_a_segment_without_words_is_the_plain_spectrogram_with_or_without_the_gate() -> None:
    net = AttentionNet(SPEC, TEXT, 6, speech_gate=True, **SIZES).eval()
    spec, spec_len, words, _, speech = _segment(2, net.time_stride)
    with torch.no_grad():
        out = net(spec, spec_len, words, torch.tensor([0]), speech)
    assert out.weights.eq(1.0).all()


def test_bad_gate_is_refused() -> None:
    with pytest.raises(ValueError, match="speech_gate must be true .* or false"):
        AttentionNet(SPEC, TEXT, 6, speech_gate=0.5, **SIZES)


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


def test_quiet_speech_between_silences_is_covered_by_the_gate() -> None:
    """Loud words, a second of silence, words 30 dB quieter, a second of silence, through the feature
    extractor and the gate as training and ``predict`` run them: every position inside the quiet words,
    whose level lies below the midpoint between the segment's quietest and loudest positions (what the
    loudness rule kept), is covered; the positions inside the silences are not."""
    sr, audio = SAMPLE_RATE, AudioFeatures(hop_length=320, freq_bins=100, max_frames=200)  # the demo's frames
    loud = spoken(6, 0, seed=1)
    quiet = spoken(3, -30, seed=2)
    gap = np.zeros(sr, np.float32)
    x = np.concatenate([gap[: sr // 2], loud, gap, quiet, gap])
    item = segment_features(x, sr, np.ones((3, TEXT[1]), np.float32), audio, TextFeatures(TEXT[0], TEXT[1]))
    torch.manual_seed(0)
    net = AttentionNet((100, 200), TEXT, 6, speech_gate=True, **SIZES).eval()
    batch = to_batch(item)
    with torch.no_grad():
        out = net(batch["spec"], batch["spec_len"], batch["words"], batch["word_len"], batch["speech"])
    span = net.time_stride * audio.hop_length / audio.sample_rate  # seconds per position

    def inside(a: float, b: float) -> list[int]:  # the positions whose frames all lie in [a, b) s
        return list(range(int(np.ceil(a / span)), int(b / span)))

    t_loud = len(gap) / sr / 2
    t_gap = len(loud) / sr
    t_quiet = len(quiet) / sr
    quiet_at = inside(t_loud + t_gap + 1.0, t_loud + t_gap + 1.0 + t_quiet)
    silent_at = inside(t_loud + t_gap, t_loud + t_gap + 1.0) + inside(
        t_loud + t_gap + 1.0 + t_quiet, len(x) / sr
    )
    assert len(quiet_at) >= 2 and len(silent_at) >= 4
    n = int(out.attended[0])
    level = batch["spec"][0, 0, :, : n * net.time_stride].mean(dim=0).view(n, -1).mean(dim=1)
    midpoint = (level.min() + level.max()) / 2
    assert all(level[p] < midpoint for p in quiet_at)  # left out by the loudness rule
    covered = out.covered[0]
    assert all(covered[p] for p in quiet_at) and not any(covered[p] for p in silent_at if p < n)
    assert all(covered[p] for p in inside(t_loud, t_loud + t_gap))  # the loud words too
