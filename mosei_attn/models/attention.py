"""The convolutional attention network (paper section 2, figure 1) and its LightningModule."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mosei_attn.models.base import EmotionModule
from mosei_attn.models.blocks import (
    POOL,
    DenseHead,
    SpeechCNN,
    TextCNN,
    attended_lengths,
    length_mask,
    mask_inputs,
    pooled_lengths,
    pooled_size,
)
from mosei_attn.models.output import NetOutput


class AttentionNet(nn.Module):
    """Text-guided time attention over the spectrogram, then a CNN classifier on the attended input.

    Shapes: ``spec`` (B, 1, F, T), ``words`` (B, L, D) -> a :class:`NetOutput`: logits (B, C), the attention
    matrix (B, m, n), the time weights alpha (B, m) and the per-frame weights (B, T); the matrix has
    m = T' = T / pool^P time positions (rows) and n = L' = L / pool^text_blocks word positions (columns).
    Each real column is a softmax over the attended time positions (eq. 1); padded columns are 0.

    The scores are unscaled, as the paper's eq. 1 (a 1 / sqrt(d) scale was measured and removed:
    docs/choices.md). ``mask_padding`` (ours) makes the batch's padding invisible to every CNN block
    (:class:`SpeechCNN`) and lets the softmax cover only whole real time positions
    (:func:`attended_lengths`) and real word columns; off, eq. 1 runs over every position and column, as
    the paper wrote it. ``text_path`` (beyond the paper) also feeds the text CNN's features to the dense
    head.
    """

    def __init__(
        self,
        spec_shape: Sequence[int],
        text_shape: Sequence[int],
        num_classes: int,
        pool_blocks: int = 3,
        text_blocks: int = 1,
        kernels: int = 32,
        kernel_size: int = 3,
        pool: int = POOL,
        attn_dim: int = 64,
        dense: Sequence[int] = (1024, 512, 128),
        dropout: float = 0.1,
        mask_padding: bool = True,
        text_path: bool = False,
    ) -> None:
        super().__init__()
        self.mask_padding = mask_padding
        n_freq, n_time = spec_shape
        n_words, embed_dim = text_shape
        self.pool_blocks, self.text_blocks, self.pool = pool_blocks, text_blocks, pool
        self.freq_p = pooled_size(n_freq, pool_blocks, pool)  # F'
        self.time_p = pooled_size(n_time, pool_blocks, pool)  # T' = m
        self.words_p = pooled_size(n_words, text_blocks, pool)  # L' = n
        self.speech = SpeechCNN(1, kernels, kernel_size, pool_blocks, pool)
        self.text = TextCNN(embed_dim, kernels, kernel_size, text_blocks, pool)
        # 1x1 convolutions into the shared attention space; frequency is folded into the channels.
        self.proj_speech = nn.Conv1d(kernels * self.freq_p, attn_dim, 1)
        self.proj_text = nn.Conv1d(kernels, attn_dim, 1)
        self.classifier = SpeechCNN(1, kernels, kernel_size, pool_blocks, pool)
        self.text_path = text_path
        head_in = kernels * self.freq_p * self.time_p + (kernels * self.words_p if text_path else 0)
        self.head = DenseHead(head_in, dense, num_classes, dropout)

    @property
    def time_stride(self) -> int:
        """Spectrogram frames per attention time position (pool^P)."""
        return self.pool**self.pool_blocks

    def attend(
        self, spec: torch.Tensor, spec_len: torch.Tensor, words: torch.Tensor, word_len: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """For already masked inputs: the attention matrix (B, m, n), alpha (B, m), the attended positions
        (B,), the per-frame weights (B, T) and the text CNN's features (B, K, L')."""
        spec_lens, word_lens = (spec_len, word_len) if self.mask_padding else (None, None)
        feats = self.speech(spec, spec_lens)  # (B, K, F', T')
        f = self.proj_speech(feats.flatten(1, 2))  # (B, d, T')
        text = self.text(words.transpose(1, 2), word_lens)  # (B, K, L')
        e = self.proj_text(text)  # (B, d, L')
        scores = torch.einsum("bdt,bdi->bti", f, e)  # (B, m, n)
        if self.mask_padding:  # whole real time positions, real word columns
            n_time = attended_lengths(spec_len, self.time_stride, self.time_p)  # (B,)
            n_word = pooled_lengths(word_len, self.text_blocks, self.words_p, self.pool)  # (B,)
        else:  # the paper's eq. 1 as written: every time position and word column, padding included
            n_time, n_word = (torch.full_like(spec_len, n) for n in (self.time_p, self.words_p))
        time_mask = length_mask(n_time, self.time_p)  # (B, m)
        word_mask = length_mask(n_word, self.words_p)  # (B, n)
        scores = scores.masked_fill(~time_mask[:, :, None], float("-inf"))
        attn = scores.softmax(dim=1) * word_mask[:, None, :].to(scores.dtype)  # eq. 1, (B, m, n)
        alpha = attn.sum(dim=2)  # eq. 2: one weight per time position, (B, m); sums to n_word
        # Scale to average 1 over the real time positions; with no words, uniform (the plain spectrogram).
        scaled = alpha * (n_time / n_word.clamp(min=1)).to(alpha.dtype)[:, None]
        alpha = torch.where((n_word > 0)[:, None], scaled, time_mask.to(alpha.dtype))  # (B, m)
        # "Extend": each pooled weight covers pool^P frames; the frames past the last attended position
        # (a partly real window, or past T' * pool^P) reuse its weight.
        frame = torch.arange(spec.shape[-1], device=spec.device)
        idx = torch.div(frame, self.time_stride, rounding_mode="floor")[None, :]  # (1, T)
        idx = torch.minimum(idx, (n_time - 1)[:, None])  # (B, T)
        weights = alpha.gather(1, idx)  # (B, T)
        return attn, alpha, n_time, weights, text

    def forward(
        self, spec: torch.Tensor, spec_len: torch.Tensor, words: torch.Tensor, word_len: torch.Tensor
    ) -> NetOutput:
        """Class logits (B, C) with the attention matrix (B, m, n), alpha (B, m) and frame weights (B, T)."""
        spec, words = mask_inputs(spec, spec_len, words, word_len)
        attn, alpha, n_time, weights, text = self.attend(spec, spec_len, words, word_len)
        attended = spec * weights[:, None, None, :]  # broadcast over frequency, (B, 1, F, T)
        feats = self.classifier(attended, spec_len if self.mask_padding else None).flatten(1)  # (B, K*F'*T')
        if self.text_path:  # beyond the paper: the shallow model's text features beside the attended speech
            feats = torch.cat([feats, text.flatten(1)], dim=1)  # (B, K*F'*T' + K*L')
        return NetOutput(
            self.head(feats), attn, alpha, n_time, weights
        )  # (B, C), (B, m, n), (B, m), (B,), (B, T)


class AttentionModule(EmotionModule):
    """LightningModule for :class:`AttentionNet`; sizes default to the paper's (section 4.2)."""

    net_class = AttentionNet
