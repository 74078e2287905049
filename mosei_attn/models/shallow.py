"""The shallow baseline (paper figure 4): speech and text CNN features concatenated, then a dense head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mosei_attn.malloc import on_forward
from mosei_attn.models.base import EmotionModule
from mosei_attn.models.blocks import POOL, DenseHead, SpeechCNN, TextCNN, mask_inputs, mask_words, pooled_size
from mosei_attn.models.output import NetOutput


class ShallowNet(nn.Module):
    """Late fusion by concatenation: ``spec`` (B, 1, F, T), ``words`` (B, L, D) -> logits (B, C).

    Returns a :class:`NetOutput` with the logits only (no attention).
    """

    takes_other_words = True  # EmotionModule passes the swapped words to forward (``other_words``)

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
        dense: Sequence[int] = (1024, 512, 128),
        dropout: float = 0.1,
        mask_padding: bool = False,
    ) -> None:
        super().__init__()
        self.mask_padding = mask_padding
        n_freq, n_time = spec_shape
        n_words, embed_dim = text_shape
        speech_features = (
            kernels * pooled_size(n_freq, pool_blocks, pool) * pooled_size(n_time, pool_blocks, pool)
        )
        text_features = kernels * pooled_size(n_words, text_blocks, pool)
        self.speech = SpeechCNN(1, kernels, kernel_size, pool_blocks, pool)
        self.text = TextCNN(embed_dim, kernels, kernel_size, text_blocks, pool)
        self.head = DenseHead(speech_features + text_features, dense, num_classes, dropout)

    def forward(
        self,
        spec: torch.Tensor,
        spec_len: torch.Tensor,
        words: torch.Tensor,
        word_len: torch.Tensor,
        other_words: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> NetOutput:
        """Class logits (B, C). ``other_words`` (words (B, L, D), word_len (B,)): also the logits with these
        words in place of the segments' own, as the returned result's ``shuffled``; the speech CNN runs
        once for both."""
        on_forward()  # malloc's fast path in any caller's process (mosei_attn.malloc)
        spec, words = mask_inputs(spec, spec_len, words, word_len)
        spec_lens = spec_len if self.mask_padding else None
        speech = self.speech(spec, spec_lens).flatten(1)  # (B, K * F' * T')
        out = self.logits(speech, words, word_len)
        if other_words is not None:
            out.shuffled = self.logits(speech, mask_words(*other_words), other_words[1])
        return out

    def logits(self, speech: torch.Tensor, words: torch.Tensor, word_len: torch.Tensor) -> NetOutput:
        """The head's logits (B, C) on the speech CNN's flattened features and the masked ``words``."""
        lengths = word_len if self.mask_padding else None
        text = self.text(words.transpose(1, 2), lengths).flatten(1)  # (B, K * L')
        return NetOutput(self.head(torch.cat([speech, text], dim=1)))


class ShallowModule(EmotionModule):
    """LightningModule for :class:`ShallowNet`; sizes default to the paper's (section 4.2)."""

    net_class = ShallowNet
