"""What a network returns: one small result object that the loss, the metrics and the figures consume."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mosei_attn.models.blocks import length_mask


@dataclass
class NetOutput:
    """A network's result for a batch of B segments.

    Attributes:
        logits: class logits, (B, C).
        attention: the attention matrix (B, m, n): m time positions (rows), n word positions (columns), each
            real column a softmax over the attended time positions (eq. 1), padded columns 0. None for
            models without attention.
        alpha: the time weight of each attention time position as the model applies it (eq. 2, the sum of
            the attention over the words; with the attention model's ``alpha_scale="mean_one"`` scaled to mean
            1 over the positions eq. 1 covers (``covered``); 0 elsewhere; 1 on every attended position for a
            segment with no words), (B, m). None without attention.
        attended: how many time positions the attention weighs (the first ``attended`` rows), (B,).
        weights: alpha extended to the spectrogram frames, the factor each input frame is multiplied by,
            (B, T). None without attention.
        covered: the time positions eq. 1's softmax covers, (B, m) bool: those of the first ``attended``
            that hold speech with the attention model's ``speech_gate``; left None, the first ``attended``
            ones. None without attention.
        shuffled: at validation and test, the result of the same batch with another segment's words in
            each segment (:mod:`mosei_attn.models.text_guidance`), set by the module; None otherwise.
    """

    logits: torch.Tensor
    attention: torch.Tensor | None = None
    alpha: torch.Tensor | None = None
    attended: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    covered: torch.Tensor | None = None
    shuffled: NetOutput | None = None

    def __post_init__(self) -> None:
        if self.covered is None and self.alpha is not None and self.attended is not None:
            self.covered = length_mask(self.attended, self.alpha.shape[1])  # eq. 1 over every attended one
