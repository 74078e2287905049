"""Where the attention looks, with no ground truth: how peaked alpha is and whether its peak sits on a
segment's edge. Measured on every corpus (real MOSEI too), every validation epoch and at test.

- ``attn_peak``: mean over segments of alpha's max / mean (1 = flat);
- ``attn_entropy``: mean normalised entropy of alpha (1 = flat, 0 = one position);
- ``attn_onset``: share of segments whose alpha argmax is the FIRST time position that eq. 1 covers (the
  first attended position, or with the attention model's speech gate the first one with speech), beside
  ``attn_onset_chance``, the mean of 1 / covered positions (what uniform-at-random peaks would give);
- ``attn_last``: share whose argmax is the LAST covered position (chance as for the onset).

Segments with no word (the model then applies uniform weights) are left out of all of them.
"""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric

from mosei_attn.models.output import NetOutput

#: Result key -> state name of each figure.
FIGURES = {
    "attn_peak": "peak",
    "attn_entropy": "entropy",
    "attn_onset": "onset",
    "attn_onset_chance": "chance",
    "attn_last": "last",
}


def distribution(out: NetOutput) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's alpha as a distribution over its time positions, (B, m), and the positions eq. 1 covers,
    (B, m) bool.

    Segments with no word (an all-zero attention matrix) come out all zero.
    """
    alpha = out.alpha.float()  # (B, m), 0 outside the covered positions
    has_words = out.attention.flatten(1).sum(dim=1) > 0  # (B,)
    alpha = alpha / alpha.sum(dim=1, keepdim=True).clamp(min=1e-12) * has_words[:, None]
    return alpha, out.covered


def peakedness(alpha: torch.Tensor, n_time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """max / mean of alpha over the ``n_time`` (B,) positions it covers (1 = flat) and its entropy over
    log(n_time) (1 = flat), each (B,); NaN for segments with no word."""
    n = n_time.clamp(min=1).to(alpha.dtype)
    ratio = alpha.max(dim=1).values * n
    entropy = -(alpha * alpha.clamp(min=1e-12).log()).sum(dim=1) / n.log().clamp(min=1e-12)
    entropy = torch.where(n > 1, entropy, torch.ones_like(entropy))
    has_words = alpha.sum(dim=1) > 0
    nan = torch.full_like(ratio, math.nan)
    return torch.where(has_words, ratio, nan), torch.where(has_words, entropy, nan)


def edges(alpha: torch.Tensor, covered: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per segment (B,): 1.0 where alpha's argmax over the ``covered`` (B, m) positions is the first of them,
    1.0 where it is the last one, and 1 / their number (the chance of either); NaN for segments with no
    word. Other positions never count, whatever they hold; a tie goes to the earlier position."""
    m = alpha.shape[1]
    top = alpha.masked_fill(~covered, -math.inf).argmax(dim=1)  # (B,)
    first = covered.to(torch.uint8).argmax(dim=1)  # the first True
    last_pos = m - 1 - covered.flip(1).to(torch.uint8).argmax(dim=1)  # the last True
    has_words = alpha.sum(dim=1) > 0
    nan = torch.full(top.shape, math.nan, dtype=alpha.dtype, device=alpha.device)
    onset = torch.where(has_words, (top == first).to(alpha.dtype), nan)
    last = torch.where(has_words, (top == last_pos).to(alpha.dtype), nan)
    chance = torch.where(has_words, 1.0 / covered.sum(dim=1).clamp(min=1).to(alpha.dtype), nan)
    return onset, last, chance


class AttentionStats(Metric):
    """The means of :data:`FIGURES` over the segments of an epoch, summed over batches and DDP ranks."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in FIGURES.values():
            self.add_state(f"{name}_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{name}_n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def _add(self, name: str, values: torch.Tensor) -> None:
        ok = ~values.isnan()
        setattr(self, f"{name}_sum", getattr(self, f"{name}_sum") + values[ok].double().sum())
        setattr(self, f"{name}_n", getattr(self, f"{name}_n") + ok.sum())

    def update(self, out: NetOutput) -> None:
        """Add a batch's result; a model without attention (``out.alpha`` None) adds nothing."""
        if out.alpha is None:
            return
        alpha, covered = distribution(out)
        peak, entropy = peakedness(alpha, covered.sum(dim=1))
        onset, last, chance = edges(alpha, covered)
        for name, values in zip(FIGURES.values(), (peak, entropy, onset, chance, last), strict=True):
            self._add(name, values)

    def compute(self) -> dict[str, float]:
        """Only what was measured: a model without attention gets none of them."""
        return {
            key: (getattr(self, f"{name}_sum") / getattr(self, f"{name}_n")).item()
            for key, name in FIGURES.items()
            if getattr(self, f"{name}_n") > 0
        }
