"""Do the words steer the attention? A check that needs no truth, so it runs on real MOSEI too.

At validation, test and ``evaluate`` every batch runs a second time with the words of another segment of
the same batch (:func:`swap_words`: a fixed derangement, each segment takes the words of the one before it,
the first the last one's), the spectrograms unchanged. From the two passes:

- ``shuffled/ua``, ``shuffled/wa``: the accuracies with the other segments' words (every model): how much
  the prediction depends on the words;
- ``text_guidance`` (attention models): the mean over segments of the total-variation distance between
  alpha with the segment's own words and alpha with the other words, each alpha as a distribution over the
  segment's real time positions (:func:`total_variation`). 0: the words do not move the attention (it is
  acoustic saliency); 1: the two alphas share no position.

A batch of one segment has no other segment's words to take: its segment is left out of both and counted
as ``shuffled/unpaired`` (a figure of its own, never a 0 in the others).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torchmetrics import Metric

from mosei_attn.models.blocks import length_mask
from mosei_attn.models.output import NetOutput

#: Result key prefix of the figures with another segment's words.
PREFIX = "shuffled/"


def word_donors(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n,): the segment whose words segment i takes in :func:`swap_words`, the one before it (the first
    takes the last one's)."""
    return torch.arange(n, device=device).roll(1)


def swap_words(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``batch`` with each segment's words (``words`` (B, L, D), ``word_len`` (B,)) replaced by those of the
    segment before it (:func:`word_donors`): for B >= 2 no segment keeps its own."""
    if batch["words"].shape[0] < 2:
        raise ValueError("swapping words needs a batch of at least 2 segments")
    before = word_donors(batch["words"].shape[0], batch["words"].device)
    # indexing, not Tensor.roll on the words: CPU autocast (bf16-mixed) refuses roll on float16 inputs
    return {**batch, "words": batch["words"][before], "word_len": batch["word_len"][before]}


def over_real_positions(alpha: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
    """``alpha`` (B, m) as a distribution over each segment's first ``attended`` (B,) time positions."""
    a = alpha.double() * length_mask(attended, alpha.shape[1])
    return a / a.sum(dim=1, keepdim=True).clamp(min=1e-300)


def total_variation(own: NetOutput, other: NetOutput) -> torch.Tensor:
    """(B,): half the L1 distance between the two results' alphas, each over the real time positions of
    ``own`` (the spectrograms, and so those positions, are the same in both passes)."""
    p, q = (over_real_positions(out.alpha, own.attended) for out in (own, other))
    return 0.5 * (p - q).abs().sum(dim=1)


class TextGuidance(Metric):
    """The mean :func:`total_variation` over the segments of an epoch, and how many segments were left out
    for lack of another segment in their batch; summed over batches and DDP ranks."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("tv_sum", "tv_n", "unpaired"):
            self.add_state(name, torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, own: NetOutput, other: NetOutput | None) -> None:
        """Add a batch: ``other`` its result with swapped words, None for a batch of one segment (counted as
        unpaired). A model without attention adds no distance."""
        if other is None:
            self.unpaired += own.logits.shape[0]
            return
        if own.alpha is None:
            return
        tv = total_variation(own, other)
        self.tv_sum += tv.sum()
        self.tv_n += tv.numel()

    def compute(self) -> dict[str, float]:
        """``text_guidance`` where measured, ``shuffled/unpaired`` where a segment was left out."""
        out = {}
        if self.tv_n > 0:
            out["text_guidance"] = (self.tv_sum / self.tv_n).item()
        if self.unpaired > 0:
            out[f"{PREFIX}unpaired"] = self.unpaired.item()
        return out
