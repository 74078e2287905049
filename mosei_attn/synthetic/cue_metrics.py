"""The cue metrics: accuracy per cue mode and whether the attention points at the stressed words.

The synthetic corpus's generator knows, for every segment, how its emotion is carried (its cue mode) and the
time span of each stressed word (:mod:`mosei_attn.synthetic.cue_truth`). That truth reaches the batches as
generic extra fields (``mode`` (B,), -1 where unknown, ``stress`` (B, T), True on stressed frames, and
``rival`` (B, T), True on a two_stressed segment's rival word), and :class:`CueMetricsCallback`, attached
by the DataModule when the corpus has truth, turns it into:

- ``acc_<mode>``: accuracy on the segments of each cue mode;
- ``pointing``: alpha's mass on stressed frames over those frames' share of the real ones (1.0 = uniform
  attention), mean over segments, and ``pointing_<mode>`` the same per cue mode;
- ``pointing_floor`` (and ``pointing_floor_<mode>``): the pointing of an alpha spread evenly over the
  positions eq. 1 covers. It is 1.0 where the attention covers every position; with the attention model's
  speech gate it is what leaving out the silence scores alone. The attention's own work is pointing over
  this floor;
- ``word_choice_<mode>``, on the segments with a rival word (two_stressed): alpha's mass on the emotion word
  over its mass on the emotion word and the rival together. The two are stressed alike, so attention that
  follows stress alone scores 0.5; only the words can say which one carries the emotion;
- ``shuffled/acc_<mode>``, ``shuffled/pointing``, ``shuffled/pointing_<mode>`` and
  ``shuffled/word_choice_<mode>``: the same with each segment given another segment's words (the module's
  second pass, :mod:`mosei_attn.models.text_guidance`), scored against the segment's own truth: pointing
  that holds with the wrong words is acoustic saliency, not text guidance;
- ``shuffled/follows_words_<mode>``: with another segment's words, how often the prediction is that other
  segment's label (per the cue mode of the segment whose speech it is): how far the words alone decide the
  class, whatever the speech says.

They are logged as ``val/...`` every validation epoch and ``test/...`` at test, and join the module's
results (so metrics.json and the printed report hold them). The truth-free attention figures (peak, onset)
are the module's own (:mod:`mosei_attn.models.attention_stats`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torchmetrics import Metric

from mosei_attn.data.dataset import extra_fields
from mosei_attn.models.attention_stats import distribution
from mosei_attn.models.blocks import length_mask
from mosei_attn.models.output import NetOutput
from mosei_attn.models.text_guidance import PREFIX, word_donors


def position_share(frames: torch.Tensor, n_time: torch.Tensor, m: int, stride: int) -> torch.Tensor:
    """Per segment and time position: the share of the position's ``stride`` frames marked in ``frames``
    (B, T) bool, 0 past the segment's real positions ``n_time`` (B,), (B, m)."""
    marked = frames[:, : m * stride].float()
    marked = torch.nn.functional.pad(marked, (0, m * stride - marked.shape[1]))
    return marked.view(-1, m, stride).mean(dim=2) * length_mask(n_time, m)


def pointing(alpha: torch.Tensor, n_time: torch.Tensor, stress: torch.Tensor, stride: int) -> torch.Tensor:
    """Per segment: alpha's mass on stressed frames over those frames' share of the real ones, (B,).

    ``alpha`` (B, m) sums to 1 over the real positions ``n_time`` (B,); ``stress`` (B, T) marks stressed
    frames; each time position covers ``stride`` frames. 1.0 is what uniform attention scores, higher means
    the model looks at the stressed words. NaN where a segment has no stressed frame or no word.
    """
    return pointing_on(alpha, position_share(stress, n_time, alpha.shape[1], stride), n_time)


def pointing_on(alpha: torch.Tensor, share: torch.Tensor, n_time: torch.Tensor) -> torch.Tensor:
    """:func:`pointing` from each position's stressed share ``share`` (B, m) (:func:`position_share`)."""
    stressed = share.sum(dim=1) / n_time.clamp(min=1)  # (B,) share of the real time that is stressed
    score = (alpha * share).sum(dim=1) / stressed.clamp(min=1e-12)
    valid = (stressed > 0) & (alpha.sum(dim=1) > 0)
    return torch.where(valid, score, torch.full_like(score, math.nan))


def word_choice(alpha: torch.Tensor, share: torch.Tensor, rival_share: torch.Tensor) -> torch.Tensor:
    """Per segment: alpha's mass on the stressed (emotion) word over its mass on it and on the rival word
    together, (B,), from each position's share of the stressed word ``share`` and of the rival word
    ``rival_share`` (B, m) (:func:`position_share`). The two words are stressed alike and last as long, so
    0.5 is what any attention that only hears stress scores, and above 0.5 the attention prefers the word
    the text says carries the emotion. NaN where a segment has no rival word, or alpha puts no mass on
    either word."""
    on_word = (alpha * share).sum(dim=1)
    on_rival = (alpha * rival_share).sum(dim=1)
    both = on_word + on_rival
    score = on_word / both.clamp(min=1e-12)
    return torch.where((rival_share.sum(dim=1) > 0) & (both > 0), score, torch.full_like(score, math.nan))


#: States of the figures with another segment's words.
SHUFFLED = (
    "shuffled_correct",
    "shuffled_follows",
    "shuffled_count",
    "shuffled_pointing_sum",
    "shuffled_pointing_n",
    "shuffled_choice_sum",
    "shuffled_choice_n",
)


class CueMetrics(Metric):
    """``acc_<mode>``, ``pointing``, ``pointing_<mode>``, ``pointing_floor...`` and ``word_choice_<mode>``
    (and with another segment's words the same under ``shuffled/``, with ``shuffled/follows_words_<mode>``),
    summed over batches and DDP ranks.

    Args:
        modes: the cue-mode names, in the order of the batch's ``mode`` indices.
        stride: frames per attention time position (pool ** pool_blocks).
    """

    full_state_update = False

    def __init__(self, modes: Sequence[str], stride: int) -> None:
        super().__init__()
        self.modes = tuple(modes)
        self.stride = stride
        zeros = torch.zeros(len(self.modes), dtype=torch.float64)
        per_mode = ("correct", "count", "pointing_sum", "floor_sum", "pointing_n", "choice_sum", "choice_n")
        for name in (*per_mode, *SHUFFLED):
            self.add_state(name, zeros.clone(), dist_reduce_fx="sum")

    def update(
        self,
        preds: torch.Tensor,
        target: torch.Tensor,
        mode: torch.Tensor,
        out: NetOutput | None = None,
        stress: torch.Tensor | None = None,
        rival: torch.Tensor | None = None,
    ) -> None:
        """``preds`` / ``target`` (B,) class indices; ``mode`` (B,) cue-mode index or -1; ``out`` the model's
        result (its alpha (B, m) and attended positions (B,)); ``stress`` (B, T) stressed frames; ``rival``
        (B, T) the rival word's frames. With ``out.shuffled`` (the result with another segment's words) the
        ``shuffled/`` figures too."""
        mode = mode.long()
        known = mode >= 0
        correct, count = self._hits(preds, target, mode)
        self.correct += correct
        self.count += count
        if out is not None and out.shuffled is not None:
            other = out.shuffled.logits.argmax(dim=1)
            correct, count = self._hits(other, target, mode)
            self.shuffled_correct += correct
            self.shuffled_count += count
            donors = target[word_donors(len(target), target.device)]  # the labels of the words it was given
            self.shuffled_follows += self._hits(other, donors, mode)[0]
        if out is None or out.alpha is None or stress is None:
            return
        alpha, covered = distribution(out)
        even = covered.to(alpha.dtype)  # spread evenly; segments without words drop out of `ok` below
        even = even / even.sum(dim=1, keepdim=True).clamp(min=1)
        rival = torch.zeros_like(stress) if rival is None else rival
        # each position's share of the stressed word and of the rival word (B, m): once for every figure
        share, rival_share = (
            position_share(f.bool(), out.attended, alpha.shape[1], self.stride) for f in (stress, rival)
        )
        score = pointing_on(alpha, share, out.attended)
        floor = pointing_on(even, share, out.attended)
        ok = known & ~score.isnan()  # the floor counts on the segments the pointing counts on
        self._add("pointing", score, mode, ok)
        self.floor_sum += self._per_mode(mode, floor, ok)
        self._add("choice", word_choice(alpha, share, rival_share), mode, known)
        if out.shuffled is not None:  # the other words' alpha against this segment's own truth
            other = distribution(out.shuffled)[0]
            self._add("shuffled_pointing", pointing_on(other, share, out.attended), mode, known)
            self._add("shuffled_choice", word_choice(other, share, rival_share), mode, known)

    def _add(self, name: str, values: torch.Tensor, mode: torch.Tensor, ok: torch.Tensor) -> None:
        """Add ``values`` (B,) of the segments ``ok`` that have one (not NaN) to the states ``<name>_sum`` and
        their number to ``<name>_n``, per cue mode."""
        ok = ok & ~values.isnan()
        setattr(self, f"{name}_sum", getattr(self, f"{name}_sum") + self._per_mode(mode, values, ok))
        setattr(
            self, f"{name}_n", getattr(self, f"{name}_n") + self._per_mode(mode, torch.ones_like(values), ok)
        )

    def _per_mode(self, mode: torch.Tensor, values: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        """The sum of ``values`` (B,) over the segments ``ok`` (B,) of each cue ``mode`` (B,), (modes,)."""
        return torch.bincount(mode[ok], values[ok].double(), len(self.modes))

    def _hits(
        self, preds: torch.Tensor, target: torch.Tensor, mode: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Per mode: the segments ``preds`` gets right, and the segments, (modes,) each."""
        known = mode >= 0
        hit = (preds == target) & known
        n = len(self.modes)
        return torch.bincount(mode[known], hit[known].double(), n), torch.bincount(
            mode[known], minlength=n
        ).double()

    def compute(self) -> dict[str, float]:
        """Only what was measured: modes never seen and the pointing of a model without attention are left
        out. The word choice is given per mode only: only a mode with a rival word (two_stressed) has one."""
        out = {}
        for key, correct, count in (
            ("acc", self.correct, self.count),
            (f"{PREFIX}acc", self.shuffled_correct, self.shuffled_count),
            (f"{PREFIX}follows_words", self.shuffled_follows, self.shuffled_count),
        ):
            for i, name in enumerate(self.modes):
                if count[i] > 0:
                    out[f"{key}_{name}"] = (correct[i] / count[i]).item()
        for key, total, n, pooled in (
            ("pointing", self.pointing_sum, self.pointing_n, True),
            ("pointing_floor", self.floor_sum, self.pointing_n, True),
            (f"{PREFIX}pointing", self.shuffled_pointing_sum, self.shuffled_pointing_n, True),
            ("word_choice", self.choice_sum, self.choice_n, False),
            (f"{PREFIX}word_choice", self.shuffled_choice_sum, self.shuffled_choice_n, False),
        ):
            if pooled and n.sum() > 0:
                out[key] = (total.sum() / n.sum()).item()
            for i, name in enumerate(self.modes):
                if n[i] > 0:
                    out[f"{key}_{name}"] = (total[i] / n[i]).item()
        return out


class CueMetricsCallback(L.Callback):
    """Computes :class:`CueMetrics` from the model's result of each validation / test batch
    (``validation_step`` / ``test_step`` return it) and the batch's ``mode`` / ``stress`` extras; logs them
    at the end of each epoch and adds them to the module's ``val_results`` / ``test_results``.
    Single-label models only (a multilabel target has no one class to be right about)."""

    def __init__(self, modes: Sequence[str]) -> None:
        self.modes = tuple(modes)
        self.metrics: dict[str, CueMetrics] = {}
        self.values: dict[str, dict[str, float]] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        stride = getattr(pl_module.net, "time_stride", 1)  # frames per attention time position
        self.metrics = {
            split: CueMetrics(self.modes, stride).to(pl_module.device) for split in ("val", "test")
        }

    def _update(self, split: str, pl_module: L.LightningModule, out: Any, batch: dict[str, Any]) -> None:
        extra = extra_fields(batch)
        if pl_module.meta.multilabel or not isinstance(out, NetOutput) or "mode" not in extra:
            return
        metric = self.metrics[split].to(out.logits.device)
        preds = out.logits.argmax(dim=1)
        metric.update(preds, batch["target"], extra["mode"], out, extra.get("stress"), extra.get("rival"))

    def _log(self, split: str, pl_module: L.LightningModule) -> None:
        values = self.metrics[split].compute() if self.metrics[split].update_count else {}
        self.metrics[split].reset()
        for name, value in values.items():
            pl_module.log(f"{split}/{name}", torch.tensor(value, dtype=torch.float32), sync_dist=True)
        self.values[split] = values

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._update("val", pl_module, outputs, batch)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update("test", pl_module, outputs, batch)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log("val", pl_module)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log("test", pl_module)

    # After the module's own epoch end, which sets its results: add ours to them.
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.val_results = {**pl_module.val_results, **self.values.pop("val", {})}

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.test_results = {**pl_module.test_results, **self.values.pop("test", {})}
