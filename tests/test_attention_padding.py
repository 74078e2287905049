"""What the networks read: padding they cannot see, a batch cut to its segments and run in chunks, the
words in the head, and alpha extended over the frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mosei_attn.models.attention import CPU_CHUNK, AttentionNet
from mosei_attn.models.shallow import ShallowNet

SPEC, TEXT = (16, 64), (8, 12)
SIZES = {"kernels": 4, "dense": [16, 8], "attn_dim": 8, "mask_padding": True}  # the default run's


def _inputs(spec_len: int, word_len: int, n_time: int = SPEC[1], seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    spec = torch.rand(1, 1, SPEC[0], n_time, generator=gen)
    words = torch.randn(1, TEXT[0], TEXT[1], generator=gen)
    return spec, torch.tensor([spec_len]), words, torch.tensor([word_len])


def _features_padded_and_cropped(net: AttentionNet, spec_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention branch's speech features (B, K, F', T') of one segment padded to the batch's length,
    and of the same segment cropped to its own length (so the convolutions' own zero padding follows it)."""
    spec, lengths, _, _ = _inputs(spec_len, 6)
    with torch.no_grad():
        padded = net.speech(spec * (torch.arange(SPEC[1]) < spec_len), lengths if net.mask_padding else None)
        cropped = net.speech(spec[..., :spec_len], lengths if net.mask_padding else None)
    return padded, cropped


def _big_biases(net: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    for p in net.parameters():  # biases large enough that ReLU(bias) in the padding would show
        torch.nn.init.normal_(p, std=0.5)
    return net.eval()


@pytest.mark.parametrize("spec_len", [24, 40])
def test_attention_does_not_see_the_batch_padding(spec_len: int) -> None:
    """The features the attention scores (e_i . f_t) are made of are, at a segment's real time positions,
    the same whether the batch pads the segment or it stands alone: padding reads as silence, it is not
    only masked out of the softmax, so the last real position is not made distinctive by it."""
    net = _big_biases(AttentionNet(SPEC, TEXT, 6, **SIZES))
    padded, cropped = _features_padded_and_cropped(net, spec_len)
    m = spec_len // net.time_stride
    torch.testing.assert_close(padded[..., :m], cropped[..., :m], rtol=1e-5, atol=1e-5)
    assert padded[..., m:].abs().max() == 0  # past the end: exactly the response to silence (0 relative)


def test_without_padding_masking_the_padding_shows() -> None:
    """The same check fails with ``mask_padding=False`` (eq. 1 as the paper wrote it): it can fail."""
    net = _big_biases(AttentionNet(SPEC, TEXT, 6, **(SIZES | {"mask_padding": False})))
    padded, cropped = _features_padded_and_cropped(net, 24)
    assert not torch.allclose(padded[..., :3], cropped[..., :3], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [AttentionNet, ShallowNet])
def test_logits_do_not_depend_on_what_lies_past_the_length(cls) -> None:
    torch.manual_seed(0)
    net = cls(SPEC, TEXT, 6, **({"kernels": 4, "dense": [16, 8]})).eval()
    spec, spec_len, words, word_len = _inputs(30, 5)
    noisy = spec.clone()
    noisy[..., 30:] += 5.0
    noisy_words = words.clone()
    noisy_words[:, 5:] += 3.0
    with torch.no_grad():
        torch.testing.assert_close(
            net(spec, spec_len, words, word_len).logits, net(noisy, spec_len, noisy_words, word_len).logits
        )


def test_a_segment_padded_in_a_batch_gives_the_logits_it_gives_alone() -> None:
    """The classifier's mean over time counts a segment's real positions only: the same 24 frames padded to
    a 64-frame batch beside a 64-frame segment (so the batch cannot be trimmed) and given alone as a 24-frame
    input (the same weights) give the same logits."""
    torch.manual_seed(0)
    batch_net = AttentionNet(SPEC, TEXT, 6, head="mean", **SIZES).eval()
    alone_net = AttentionNet((SPEC[0], 24), TEXT, 6, head="mean", **SIZES).eval()
    alone_net.load_state_dict(batch_net.state_dict())  # no weight depends on the number of frames
    spec, spec_len, words, word_len = _inputs(24, 5)
    batch = _batch(_inputs(24, 5), _inputs(SPEC[1], 7, seed=1))
    with torch.no_grad():
        padded = batch_net(*batch).logits[:1]
        alone = alone_net(spec[..., :24], spec_len, words, word_len).logits
    assert batch_net.time_p == 8 and alone_net.time_p == 3  # 5 padded positions in the batch
    torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-5)


def _batch(*segments: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """One batch of :func:`_inputs` segments (spec, spec_len, words, word_len)."""
    return tuple(torch.cat(parts) for parts in zip(*segments, strict=True))


def test_a_batch_of_short_segments_runs_on_their_frames_only() -> None:
    """With the padding masked and the mean head, the network reads a batch only up to the attention
    position that holds its longest segment (21 frames: 3 positions of 8, 24 frames), and gives every output
    (logits, eq. 1, alpha, frame weights, covered positions) at full size and as it gives them for the same
    segments in a batch it cannot trim (beside a 64-frame segment)."""
    net = _big_biases(AttentionNet(SPEC, TEXT, 6, head="mean", speech_gate=False, **SIZES))
    short = _batch(_inputs(21, 5), _inputs(10, 3, seed=1))
    widths = []
    hook = net.classifier.register_forward_pre_hook(lambda _m, args: widths.append(args[0].shape[-1]))
    with torch.no_grad():
        trimmed = net(*short)
        full = net(*_batch(_inputs(21, 5), _inputs(10, 3, seed=1), _inputs(SPEC[1], 7, seed=2)))
    hook.remove()
    assert widths == [24, SPEC[1]]
    for field in ("logits", "attention", "alpha", "weights", "covered", "attended"):
        torch.testing.assert_close(getattr(trimmed, field), getattr(full, field)[:2], rtol=1e-5, atol=1e-5)
    assert trimmed.alpha.shape == (2, net.time_p) and trimmed.weights.shape == (2, SPEC[1])


def test_on_the_cpu_a_batch_runs_in_chunks_by_length_each_on_its_own_frames() -> None:
    """On the CPU a batch of 9 segments runs as chunks of ``CPU_CHUNK`` (4, 4, 1), shortest segments
    first, each cut to its own longest segment; every output of every segment, speech gate included, is
    what it gives in a batch that cannot be cut (beside a 64-frame segment), in the batch's order."""
    net = _big_biases(AttentionNet(SPEC, TEXT, 6, head="mean", speech_gate=True, **SIZES))
    lengths = [50, 9, 33, 17, 64, 25, 41, 12, 47]  # sorted: 9 12 17 25 | 33 41 47 50 | 64
    gen = torch.Generator().manual_seed(5)
    segments = [
        (*_inputs(n, 1 + i % 7, seed=i), torch.rand(1, SPEC[1], generator=gen) > 0.3)
        for i, n in enumerate(lengths)
    ]
    full = (*_inputs(SPEC[1], 7, seed=99), torch.ones(1, SPEC[1], dtype=torch.bool))
    widths = []
    hook = net.classifier.register_forward_pre_hook(lambda _m, args: widths.append(args[0].shape[-1]))
    with torch.no_grad():
        batch = net(*_batch(*segments))
        assert widths == [32, 56, 64] and CPU_CHUNK == 4  # 25 -> 4 positions of 8, 50 -> 7, 64 -> 8
        alone = [net(*_batch(segment, full)) for segment in segments]
    hook.remove()
    for field in ("logits", "attention", "alpha", "weights", "covered", "attended"):
        expected = torch.cat([getattr(out, field)[:1] for out in alone])
        torch.testing.assert_close(getattr(batch, field), expected, rtol=1e-5, atol=1e-5)


def test_text_path_feeds_the_words_to_the_head() -> None:
    torch.manual_seed(0)
    plain = AttentionNet(SPEC, TEXT, 6, **SIZES)
    with_text = AttentionNet(SPEC, TEXT, 6, text_path=True, **SIZES)
    extra = with_text.head.hidden[0].in_features - plain.head.hidden[0].in_features
    assert extra == SIZES["kernels"] * with_text.words_p  # the pooled text features, K x L'
    with_text(*_inputs(40, 6)).logits.sum().backward()
    head_w = with_text.head.hidden[0].weight.grad
    assert head_w[:, -extra:].abs().sum() > 0  # the text columns of the head learn


def test_the_shallow_model_reads_the_words() -> None:
    """The shallow baseline's head sees the text CNN's features: other real words, other logits; other
    words past the segment's word count, the same."""
    torch.manual_seed(0)
    net = ShallowNet(SPEC, TEXT, 6, kernels=4, dense=[16, 8]).eval()
    spec, spec_len, words, word_len = _inputs(40, 6)
    other_words, past_the_end = words.clone(), words.clone()
    other_words[:, :6] = torch.randn(6, TEXT[1], generator=torch.Generator().manual_seed(1))
    past_the_end[:, 6:] += 3.0
    with torch.no_grad():
        logits = net(spec, spec_len, words, word_len).logits
        assert not torch.allclose(net(spec, spec_len, other_words, word_len).logits, logits)
        torch.testing.assert_close(net(spec, spec_len, past_the_end, word_len).logits, logits)


@pytest.mark.parametrize("alpha_scale", ["none", "mean_one"])
@pytest.mark.parametrize("spec_len", [64, 43, 40, 5])  # whole windows, a partial last one, shorter than one
def test_the_frame_weights_extend_alpha_over_each_positions_frames(spec_len, alpha_scale):
    """The result's per-frame weights (what the figure draws) are alpha repeated over each attended
    position's frames; the frames past the last attended position take its weight. Alpha is eq. 2's sum over
    the words (the paper's), or with ``alpha_scale="mean_one"`` rescaled to mean 1 where attended."""
    net = AttentionNet(SPEC, TEXT, 6, alpha_scale=alpha_scale, **SIZES).eval()
    with torch.no_grad():
        out = net(*_inputs(spec_len, word_len=5))
    stride, n = net.time_stride, int(out.attended[0])
    assert n == max(1, min(spec_len // stride, net.time_p))  # whole real windows only, at least one
    alpha = out.alpha[0].numpy()
    assert not alpha[n:].any()  # 0 past the attended positions
    if alpha_scale == "mean_one":
        assert alpha[:n].mean() == pytest.approx(1.0)
    else:  # each of the ceil(5 / 2) = 3 real word columns sums to 1 over time
        assert alpha.sum() == pytest.approx(3.0)
    per_frame = np.repeat(alpha[:n], stride)
    expected = np.concatenate([per_frame, np.full(SPEC[1] - len(per_frame), alpha[n - 1])])
    np.testing.assert_allclose(out.weights[0].numpy(), expected, rtol=1e-6)
