"""What the attention does: accuracy per cue mode, where alpha looks, and how peaked it is.

The synthetic corpus's generator knows, for every segment, how its emotion is carried (its cue mode) and
the time span of each stressed word (see :mod:`mosei_attn.data.cue_truth`). With that truth in a batch
(``mode`` (B,), -1 where unknown, and ``stress`` (B, T), True on stressed frames), these metrics say
whether a model is right per mode and whether the attention model looks where the emotion is spoken.
Without it (real MOSEI) only the peakedness of alpha is measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchmetrics import Metric

from mosei_attn.models.blocks import length_mask
from mosei_attn.models.output import NetOutput


def distribution(out: NetOutput) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's alpha as a distribution over its attended time positions, (B, m), and their number (B,).

    Segments with no word (an all-zero attention matrix: the model then applies uniform weights) come out
    all zero, so the attention figures leave them out.
    """
    alpha = out.alpha.float()  # (B, m), 0 past the attended positions
    has_words = out.attention.flatten(1).sum(dim=1) > 0  # (B,)
    alpha = alpha / alpha.sum(dim=1, keepdim=True).clamp(min=1e-12) * has_words[:, None]
    return alpha, out.attended


def pointing(alpha: torch.Tensor, n_time: torch.Tensor, stress: torch.Tensor, stride: int) -> torch.Tensor:
    """Per segment: alpha's mass on stressed frames over those frames' share of the real ones, (B,).

    ``alpha`` (B, m) sums to 1 over the real positions ``n_time`` (B,); ``stress`` (B, T) marks stressed
    frames; each time position covers ``stride`` frames. 1.0 is what uniform attention scores, higher means
    the model looks at the stressed words. NaN where a segment has no stressed frame or no word.
    """
    m = alpha.shape[1]
    frames = stress[:, : m * stride].float()
    frames = torch.nn.functional.pad(frames, (0, m * stride - frames.shape[1]))
    share = frames.view(-1, m, stride).mean(dim=2) * length_mask(n_time, m)  # (B, m) stressed share
    stressed = share.sum(dim=1) / n_time.clamp(min=1)  # (B,) share of the real time that is stressed
    score = (alpha * share).sum(dim=1) / stressed.clamp(min=1e-12)
    valid = (stressed > 0) & (alpha.sum(dim=1) > 0)
    return torch.where(valid, score, torch.full_like(score, math.nan))


def peakedness(alpha: torch.Tensor, n_time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """max / mean of alpha over the real positions (1 = flat) and its entropy over log(n_time) (1 = flat),
    each (B,); NaN for segments with no word."""
    n = n_time.clamp(min=1).to(alpha.dtype)
    ratio = alpha.max(dim=1).values * n
    entropy = -(alpha * alpha.clamp(min=1e-12).log()).sum(dim=1) / n.log().clamp(min=1e-12)
    entropy = torch.where(n > 1, entropy, torch.ones_like(entropy))
    has_words = alpha.sum(dim=1) > 0
    nan = torch.full_like(ratio, math.nan)
    return torch.where(has_words, ratio, nan), torch.where(has_words, entropy, nan)


class CueMetrics(Metric):
    """Accuracy per cue mode (``acc_<mode>``), ``pointing``, ``attn_peak`` (mean max/mean of alpha) and
    ``attn_entropy`` (mean normalised entropy of alpha), summed over batches and DDP ranks.

    Args:
        modes: the cue-mode names, in the order of the batch's ``mode`` indices.
        stride: frames per attention time position (pool ** pool_blocks).
    """

    full_state_update = False

    def __init__(self, modes: Sequence[str], stride: int) -> None:
        super().__init__()
        self.modes, self.stride = tuple(modes), stride
        zeros = torch.zeros(len(self.modes), dtype=torch.float64)
        self.add_state("correct", zeros.clone(), dist_reduce_fx="sum")
        self.add_state("count", zeros.clone(), dist_reduce_fx="sum")
        for name in ("pointing", "peak", "entropy"):
            self.add_state(f"{name}_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{name}_n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def _add(self, name: str, values: torch.Tensor) -> None:
        ok = ~values.isnan()
        setattr(self, f"{name}_sum", getattr(self, f"{name}_sum") + values[ok].double().sum())
        setattr(self, f"{name}_n", getattr(self, f"{name}_n") + ok.sum())

    def update(
        self,
        preds: torch.Tensor,
        target: torch.Tensor,
        mode: torch.Tensor | None = None,
        out: NetOutput | None = None,
        stress: torch.Tensor | None = None,
    ) -> None:
        """``preds`` / ``target`` (B,) class indices; ``mode`` (B,) cue-mode index or -1; ``out`` the model's
        result (its alpha (B, m) and attended positions (B,)); ``stress`` (B, T) stressed frames."""
        if mode is not None:
            known = mode >= 0
            hit = (preds == target) & known
            self.correct += torch.bincount(mode[known], hit[known].double(), len(self.modes))
            self.count += torch.bincount(mode[known], minlength=len(self.modes)).double()
        if out is None or out.alpha is None:
            return
        alpha, n_time = distribution(out)
        peak, entropy = peakedness(alpha, n_time)
        self._add("peak", peak)
        self._add("entropy", entropy)
        if stress is not None and mode is not None:
            self._add("pointing", pointing(alpha, n_time, stress, self.stride)[mode >= 0])

    def compute(self) -> dict[str, float]:
        """Only what was measured: modes never seen and attention figures of a model without one are left out."""
        out = {
            f"acc_{name}": (self.correct[i] / self.count[i]).item()
            for i, name in enumerate(self.modes)
            if self.count[i] > 0
        }
        for key, name in (("pointing", "pointing"), ("attn_peak", "peak"), ("attn_entropy", "entropy")):
            n = getattr(self, f"{name}_n")
            if n > 0:
                out[key] = (getattr(self, f"{name}_sum") / n).item()
        return out
