"""Building blocks shared by both models: the speech / text CNNs, the dense head and length masks.

Every block runs the fast path: channels_last memory for the 2-D convolutions, max pooling BEFORE the
ReLU and an in-place ReLU. ReLU is monotone, so ``relu(maxpool(x)) == maxpool(relu(x))`` exactly (values
and gradients), but the ReLU then touches 4x (2-D) or 2x (1-D) fewer elements. Eager PyTorch has no
trainable fused conv+ReLU kernel; ``torch.compile`` (the modules' ``compile`` option) fuses the
pool+ReLU and bias+ReLU pairs. The textbook order (conv -> ReLU -> pool on NCHW tensors) lives in
``tests/reference_models.py``, for the tests and the benchmark: each block's ``_block`` / ``_activate`` is
the one step it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

#: Default width (= stride) of every max pool: the paper's "pool size of 2 and stride of 2".
POOL = 2


def pooled_size(size: int, blocks: int, pool: int = POOL) -> int:
    """Length of an axis of ``size`` after ``blocks`` floor-mode max pools of width ``pool``."""
    for _ in range(blocks):
        size //= pool
    if size < 1:
        raise ValueError(f"an axis of {size} after {blocks} pools of {pool} is empty: the input is too small")
    return size


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """(B, size) bool mask, True at positions ``< lengths`` (the real, unpadded ones)."""
    return torch.arange(size, device=lengths.device) < lengths[:, None]


def pooled_lengths(lengths: torch.Tensor, blocks: int, size: int, pool: int = POOL) -> torch.Tensor:
    """Real positions left after ``blocks`` pools: ceil(lengths / pool^blocks), at most ``size``.

    A pooled position counts as real when its window holds at least one real input position.
    """
    stride = pool**blocks
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor").clamp(max=size)


def real_positions(lengths: torch.Tensor, blocks: int, size: int, pool: int = POOL) -> torch.Tensor:
    """(B, size) bool: the time positions after ``blocks`` pools that hold at least one of ``lengths`` (B,)
    real input positions."""
    return length_mask(pooled_lengths(lengths, blocks, size, pool), size)


def attended_lengths(lengths: torch.Tensor, stride: int, size: int) -> torch.Tensor:
    """Time positions the attention may weigh: those whose ``stride`` frames are all real, at least one
    (so a segment shorter than ``stride`` frames still gets a finite softmax), at most ``size``.

    A position that covers the end of a segment holds padding, and weighing it would mute the real frames:
    it is left out, and its real frames take the last attended position's weight.
    """
    return torch.div(lengths, stride, rounding_mode="floor").clamp(min=1, max=size)


def zero_padding(
    x: torch.Tensor, lengths: torch.Tensor | None, blocks: int, pool: int = POOL
) -> torch.Tensor:
    """Zero the last axis of block output ``x`` (B, ..., T') past each row's real positions after
    ``blocks`` pools of ``lengths`` (B,) input positions; ``x`` unchanged when ``lengths`` is None.

    A 'same' convolution turns zero padding into bias-driven values (ReLU(b) != 0), and the next block
    then sees a step where the padding begins, so without this the last real position is distinctive.
    With it, what lies past the end is exactly what an unpadded segment's own zero padding would be.
    """
    if lengths is None:
        return x
    keep = real_positions(lengths, blocks, x.shape[-1], pool)  # (B, T')
    return x * keep.view(keep.shape[0], *([1] * (x.dim() - 2)), keep.shape[1]).to(x.dtype)


class SpeechCNN(nn.Module):
    """``blocks`` x [Conv2d k x k ('same') -> ReLU -> max pool, width = stride = ``pool``]:
    (B, C_in, F, T) -> (B, K, F / pool^blocks, T / pool^blocks)."""

    def __init__(
        self,
        in_channels: int = 1,
        kernels: int = 32,
        kernel_size: int = 3,
        blocks: int = 3,
        pool: int = POOL,
    ) -> None:
        super().__init__()
        chans = [in_channels] + [kernels] * blocks
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, kernel_size, padding="same") for c_in, c_out in pairwise(chans)
        )
        self.pool = pool
        # NHWC weights, so oneDNN / cuDNN pick their channels_last kernels without a conversion per call.
        self.to(memory_format=torch.channels_last)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        """The input in the memory layout the convolutions run in (channels_last)."""
        return x.contiguous(memory_format=torch.channels_last)

    def _block(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """One block: conv ('same') -> max pool -> in-place ReLU (pool first: same result, pool^2 x fewer
        ReLUs)."""
        return F.relu_(F.max_pool2d(F.conv2d(x, weight, bias, padding="same"), self.pool))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C_in, F, T) -> (B, K, F', T'). With ``lengths`` (B,) (real frames of each sample), every
        block's output is taken relative to its response to silence (an all-zero input) and set to exactly
        that past each sample's pooled length, ceil(length / pool^k) after block k: the convolutions' zero
        padding and the batch's padding both read as "silence continues", so a segment's features depend
        neither on its batch's padding nor on where its array ends."""
        masks = self._time_masks(lengths, x.shape[-1], x.dtype)
        x = self._layout(x)
        silence = x.new_zeros(x.shape[1])  # the previous block's response to silence, (C,)
        for conv, mask in zip(self.convs, masks, strict=True):
            bias = conv.bias
            if mask is not None:  # conv(x_rel + s) = conv_zero_padded(x_rel) + W.sum() @ s
                bias = bias + conv.weight.sum(dim=(2, 3)) @ silence
                silence = F.relu(bias)  # this block's response to silence (max pool of a constant is it)
            x = self._block(x, conv.weight, bias)
            if mask is not None:
                x = (x - silence[:, None, None]) * mask
        return x  # (B, K, F / pool^P, T / pool^P)

    def _time_masks(self, lengths: torch.Tensor | None, n_time: int, dtype: torch.dtype) -> list:
        """Per block, None or a (B, 1, 1, T') 0/1 mask of the real pooled time positions."""
        if lengths is None:
            return [None] * len(self.convs)
        masks = []
        for k in range(1, len(self.convs) + 1):
            real = real_positions(lengths, k, pooled_size(n_time, k, self.pool), self.pool)  # (B, T')
            masks.append(real.to(dtype)[:, None, None, :])
        return masks


class TextCNN(nn.Module):
    """``blocks`` x [Conv1d over word positions -> ReLU -> max pool ``pool``]: (B, D, L) -> (B, K, L')."""

    def __init__(
        self,
        embed_dim: int = 300,
        kernels: int = 32,
        kernel_size: int = 3,
        blocks: int = 1,
        pool: int = POOL,
    ) -> None:
        super().__init__()
        chans = [embed_dim] + [kernels] * blocks
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, kernel_size, padding="same") for c_in, c_out in pairwise(chans)
        )
        self.pool = pool

    def _block(self, x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
        """One block: conv -> max pool -> in-place ReLU."""
        return F.relu_(F.max_pool1d(conv(x), self.pool))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``lengths`` (B,): real word positions; features past them are zeroed after every block."""
        for k, conv in enumerate(self.convs, 1):
            x = zero_padding(self._block(x, conv), lengths, k, self.pool)
        return x  # (B, K, L / pool^blocks)


class DenseHead(nn.Module):
    """Flattened features -> hidden ReLU layers -> dropout on the last hidden layer -> class logits."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (1024, 512, 128),
        num_classes: int = 6,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("the dense head needs at least one hidden layer (dropout goes on the last one)")
        sizes = [in_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(sizes[-1], num_classes)

    def _activate(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layers' ReLU, in place."""
        return F.relu_(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = self._activate(layer(x))
        return self.out(self.dropout(x))  # (B, num_classes)


def he_init(net: nn.Module) -> None:
    """He (Kaiming) normal initialisation, fan-in, for every layer that a ReLU follows: the convolutions of
    each :class:`SpeechCNN` and :class:`TextCNN` and the hidden layers of each :class:`DenseHead`; their
    biases zero. Other layers (the attention projections, the logits) keep PyTorch's default."""
    layers = [conv for cnn in net.modules() if isinstance(cnn, SpeechCNN | TextCNN) for conv in cnn.convs] + [
        layer for head in net.modules() if isinstance(head, DenseHead) for layer in head.hidden
    ]
    for layer in layers:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)


def keras_init(net: nn.Module) -> None:
    """What the paper's Keras-era code would have had: every convolution and dense layer's weights
    Glorot-uniform (fan-in + fan-out, kernel area included), every bias zero (Keras 2's defaults)."""
    for layer in net.modules():
        if isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


def mask_words(words: torch.Tensor, word_len: torch.Tensor) -> torch.Tensor:
    """``words`` (B, L, D) with the word vectors past each ``word_len`` (B,) zeroed."""
    return words * length_mask(word_len, words.shape[1]).to(words.dtype)[:, :, None]


def mask_inputs(
    spec: torch.Tensor, spec_len: torch.Tensor, words: torch.Tensor, word_len: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero padded frames of ``spec`` (B, 1, F, T) and padded word vectors of ``words`` (B, L, D).

    Done first in both models so that what a batch holds beyond each length cannot reach the output.
    """
    time_mask = length_mask(spec_len, spec.shape[-1]).to(spec.dtype)  # (B, T)
    return spec * time_mask[:, None, None, :], mask_words(words, word_len)
