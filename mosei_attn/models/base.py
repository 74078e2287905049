"""The LightningModule both models share: loss, optimizer from config, metrics, logging, prediction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, ListConfig, OmegaConf
from torchmetrics import MaxMetric

from mosei_attn.data.meta import DataMeta
from mosei_attn.models.attention_stats import AttentionStats
from mosei_attn.models.blocks import he_init, keras_init
from mosei_attn.models.metrics import EmotionMetrics, to_numpy
from mosei_attn.models.output import NetOutput
from mosei_attn.models.schedule import extend_cosine
from mosei_attn.models.text_guidance import PREFIX, TextGuidance, swap_words

#: Scheduler config keys that are Lightning's (how to step it), not the scheduler constructor's.
LIGHTNING_SCHEDULER_KEYS = ("monitor", "interval", "frequency")
#: Checkpoint entry holding the best val/ua so far, so that val/ua_best (a sweeper's objective) survives a
#: resume.
UA_BEST_KEY = "val_ua_best"
INITS = {
    "default": None,
    "he": he_init,
    "keras": keras_init,
}  # model.init: what re-initialises the network after it is built


def _plain(value: Any) -> Any:
    """OmegaConf containers and dataclass metadata as plain python, so checkpoints load anywhere."""
    if isinstance(value, DataMeta):
        return value.to_dict()
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, tuple):
        return list(value)
    return value


def inverse_frequency_weights(counts: list[int] | tuple[int, ...]) -> torch.Tensor:
    """Per-class weights 1 / count, normalised to mean 1 (a class with no examples counts as 1)."""
    if not counts:
        raise ValueError("model.class_weights needs meta.class_counts, but the data metadata has none")
    weights = 1.0 / torch.tensor(counts, dtype=torch.float32).clamp(min=1)
    return weights / weights.mean()


def build_optimizers(optimizer: Any, scheduler: Any, params: Any) -> tuple[Any, dict[str, Any] | None]:
    """The optimizer of the ``_partial_`` config ``optimizer`` over ``params``, and, for a ``scheduler``
    config, Lightning's scheduler entry: the scheduler built on it, with the keys that are Lightning's
    (:data:`LIGHTNING_SCHEDULER_KEYS`) beside it; None without one."""
    opt = hydra.utils.instantiate(optimizer)(params)
    if not scheduler:
        return opt, None
    cfg = dict(scheduler)
    lightning_keys = {k: cfg.pop(k) for k in LIGHTNING_SCHEDULER_KEYS if k in cfg}
    return opt, {"scheduler": hydra.utils.instantiate(cfg)(opt), **lightning_keys}


class EmotionModule(L.LightningModule):
    """Shared training logic; a subclass names its network class in ``net_class``: a module built as
    ``net_class(spec_shape, text_shape, num_classes, **net)`` that maps ``(spec, spec_len, words, word_len)``
    to a :class:`~mosei_attn.models.output.NetOutput`.

    Args:
        meta: data facts (:class:`DataMeta` or its dict); stored as a dict in the hyperparameters so
            ``load_from_checkpoint`` rebuilds the model without the dataset.
        optimizer: Hydra ``_partial_`` config of the optimizer, called with the parameters.
        scheduler: optional Hydra ``_partial_`` config of an LR scheduler, called with the optimizer;
            ``monitor`` / ``interval`` / ``frequency`` keys go to Lightning instead.
        class_weights: weigh the loss by inverse class frequency from ``meta.class_counts`` (cross
            entropy weights; for multilabel the BCE ``pos_weight`` of each emotion), 1 / count.
        class_weights_from_epoch: the class weights apply from this epoch on (0: from the start); before
            it the loss is unweighted ("deferred re-weighting": the features are learnt on the plain loss,
            the weights then move the decision towards the rare classes).
        compile: ``torch.compile`` the network in place when fitting (state-dict keys unchanged).
        init: ``"keras"`` (the paper's): Glorot-uniform weights and zero biases everywhere, as the paper's
            Keras code would have had (:func:`~mosei_attn.models.blocks.keras_init`); ``"he"``: He-normal
            weights and zero biases for the layers a ReLU follows (:func:`~mosei_attn.models.blocks.he_init`);
            ``"default"``: PyTorch's layer defaults.
        words_dropout: in training, the share of segments whose words are left out (``word_len`` 0, every
            vector 0), drawn anew for every batch (modality dropout): those segments are learnt from their
            speech alone, so the speech side cannot lean on the words where they are present. The attention
            model then weighs the plain spectrogram (alpha 1); validation, test and prediction keep every
            word.
        **net: the network's sizes (``pool_blocks``, ``kernels``, ``dense``, ...); their defaults, the
            paper's (section 4.2), live in the network's signature. Saved as hyperparameters with the rest.
    """

    net_class: type[torch.nn.Module]

    def __init__(
        self,
        meta: dict[str, Any] | DataMeta,
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        class_weights: bool = False,
        class_weights_from_epoch: int = 0,
        compile: bool = False,
        init: str = "keras",
        words_dropout: float = 0.0,
        **net: Any,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # collects the subclass's constructor arguments too
        self.save_hyperparameters({k: _plain(v) for k, v in self.hparams.items()})
        self.meta = DataMeta.from_dict(self.hparams.meta)
        self.net = self.net_class(self.meta.spec_shape, self.meta.text_shape, self.meta.num_classes, **net)
        if init not in INITS:
            raise ValueError(f"model.init must be one of {', '.join(INITS)}, got {init!r}")
        if INITS[init]:
            INITS[init](self.net)
        if not 0.0 <= words_dropout < 1.0:
            raise ValueError(f"model.words_dropout must be in [0, 1), got {words_dropout!r}")
        if not isinstance(class_weights, bool):
            raise ValueError(f"model.class_weights must be true or false, got {class_weights!r}")
        weight = inverse_frequency_weights(self.meta.class_counts) if class_weights else None
        self.register_buffer("class_weight", weight, persistent=False)
        num, multi = self.meta.num_classes, self.meta.multilabel
        self.val_metrics = EmotionMetrics(num, multi)
        self.test_metrics = EmotionMetrics(num, multi)
        # peak, onset, ...
        self.val_attention = AttentionStats()
        self.test_attention = AttentionStats()
        # the same batches with another segment's words (mosei_attn.models.text_guidance)
        self.val_shuffled = EmotionMetrics(num, multi)
        self.test_shuffled = EmotionMetrics(num, multi)
        self.val_guidance = TextGuidance()
        self.test_guidance = TextGuidance()
        self.val_ua_best = MaxMetric()
        self._ua_best_restored: float | None = None  # from the checkpoint a run resumes
        self.loaded_epoch: int | None = None  # the (0-based) epoch of the checkpoint loaded last
        self.val_results: dict[str, Any] = {}
        self.test_results: dict[str, Any] = {}

    @property
    def example_input_array(self) -> tuple[dict[str, torch.Tensor]] | None:
        """One sample of the data's full shapes (zeros, every frame speech), on which Lightning's model
        summary counts the forward's operations (its "FLOPs" column and total, for a batch of one); None for
        a network compiled when fitting, which would compile once more for this batch size."""
        if self.hparams.compile:
            return None
        (n_freq, n_time), (n_words, dim) = self.meta.spec_shape, self.meta.text_shape
        return (
            {
                "spec": torch.zeros(1, 1, n_freq, n_time),
                "spec_len": torch.tensor([n_time]),
                "speech": torch.ones(1, n_time, dtype=torch.bool),
                "words": torch.zeros(1, n_words, dim),
                "word_len": torch.tensor([n_words]),
            },
        )

    def forward(self, batch: Mapping[str, torch.Tensor], other_words: bool = False) -> NetOutput:
        """The network's result (logits (B, C), and for the attention model the attention matrix, alpha and
        the frame weights: :class:`NetOutput`) for a batch dict with ``spec`` (B, 1, F, T), ``spec_len`` (B,),
        ``words`` (B, L, D) and ``word_len`` (B,), and ``speech`` (B, T) bool for a network whose
        ``uses_speech`` is true (the attention model's gate). Spec and words may come as the cache stores them
        (float16, from the loader): they are cast here, on the model's device, to the dtype of its
        parameters. ``other_words`` (a batch of 2 segments or more): the result's ``shuffled`` holds the
        result with each segment given another segment's words (:func:`swap_words`); a network whose
        ``takes_other_words`` is true computes both in one call (its speech CNN once), any other is called
        twice."""
        spec, words = (batch[k].to(self.dtype) for k in ("spec", "words"))
        extra = {"speech": batch["speech"]} if getattr(self.net, "uses_speech", False) else {}
        other = None
        if other_words:
            swapped = swap_words(batch)
            other = (swapped["words"].to(self.dtype), swapped["word_len"])
        if other is not None and getattr(self.net, "takes_other_words", False):
            return self.net(spec, batch["spec_len"], words, batch["word_len"], **extra, other_words=other)
        out = self.net(spec, batch["spec_len"], words, batch["word_len"], **extra)
        if other is not None:
            out.shuffled = self.net(spec, batch["spec_len"], *other, **extra)
        return out

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross entropy on class indices, or BCE-with-logits on 0/1 targets (multilabel); class-weighted
        from epoch ``class_weights_from_epoch`` on."""
        weight = self.class_weight if self.current_epoch >= self.hparams.class_weights_from_epoch else None
        if self.meta.multilabel:
            return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), pos_weight=weight)
        return F.cross_entropy(logits, target, weight=weight)

    def _step(
        self, batch: dict[str, torch.Tensor], other_words: bool = False
    ) -> tuple[torch.Tensor, NetOutput]:
        out = self(batch, other_words)
        return self.loss(out.logits.float(), batch["target"]), out

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            self.net.compile()  # in place: parameter names and checkpoints stay as without compile

    def on_train_start(self) -> None:
        # a run resumed with more epochs than its cosine schedule was planned for: the schedule stretches
        extend_cosine(self.trainer, (self.hparams.scheduler or {}).get("T_max"))
        self.val_ua_best.reset()  # forget the sanity-check validation
        if self._ua_best_restored is not None:  # a resumed run goes on from its best so far
            self.val_ua_best.update(torch.tensor(self._ua_best_restored, device=self.device))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        best = float(self.val_ua_best.max_value)
        checkpoint[UA_BEST_KEY] = best if best > float("-inf") else None

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.loaded_epoch = checkpoint.get("epoch")  # the checkpoint's own epoch, for the reports
        best = checkpoint.get(UA_BEST_KEY)
        self._ua_best_restored = None if best is None else float(best)

    def drop_words(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``batch`` with the words of a random ``words_dropout`` share of its segments left out."""
        p = self.hparams.words_dropout
        if not p:
            return batch
        keep = torch.rand(batch["word_len"].shape, device=batch["word_len"].device) >= p  # (B,)
        return {
            **batch,
            "words": batch["words"] * keep[:, None, None].to(batch["words"].dtype),
            "word_len": batch["word_len"] * keep,
        }

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._step(self.drop_words(batch))
        self.log(
            "train/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch["target"].shape[0],
        )
        return loss

    def _eval_step(self, batch: dict[str, torch.Tensor], split: str) -> NetOutput:
        """Update the split's metrics with a batch, and the figures with each segment given another
        segment's words (:meth:`_shuffled_metrics`); returns the network's result, with that other result as
        its ``shuffled``, which callbacks get as the step's output (e.g. metrics that need the data's extra
        fields)."""
        loss, out = self._step(batch, other_words=batch["target"].shape[0] > 1)
        getattr(self, f"{split}_metrics").update(out.logits, batch["target"])
        getattr(self, f"{split}_attention").update(
            out
        )  # where alpha looks (mosei_attn.models.attention_stats)
        self._shuffled_metrics(batch, out, split)
        self.log(
            f"{split}/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=split == "val",
            sync_dist=True,
            batch_size=batch["target"].shape[0],
        )
        return out

    def _shuffled_metrics(self, batch: dict[str, torch.Tensor], out: NetOutput, split: str) -> None:
        """Update the split's ``shuffled/`` metrics and text guidance with ``out.shuffled``, the result with
        each segment given another's words (None for a batch of one segment, which is counted as
        unpaired)."""
        if out.shuffled is not None:
            getattr(self, f"{split}_shuffled").update(out.shuffled.logits, batch["target"])
        getattr(self, f"{split}_guidance").update(out, out.shuffled)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> NetOutput:
        return self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> NetOutput:
        return self._eval_step(batch, "test")

    def _log_results(self, split: str) -> dict[str, Any]:
        metrics = getattr(self, f"{split}_metrics")
        res = metrics.compute()  # already summed over DDP ranks
        metrics.reset()
        names = {"wa": res["wa"], "ua": res["ua"], "f1_macro": res["f1_macro"]}
        names |= {f"f1_{emo}": res["f1"][i] for i, emo in enumerate(self.meta.emotion_names)}
        stats = getattr(self, f"{split}_attention")
        attention_values = stats.compute()
        stats.reset()
        names |= {k: torch.tensor(v) for k, v in attention_values.items()}
        shuffled, guidance = getattr(self, f"{split}_shuffled"), getattr(self, f"{split}_guidance")
        if any(m.update_count for m in shuffled.values()):  # some batch had two segments or more
            res_shuffled = shuffled.compute()
            names |= {f"{PREFIX}{k}": res_shuffled[k] for k in ("ua", "wa")}
        shuffled.reset()
        guidance_values = guidance.compute() if guidance.update_count else {}
        guidance.reset()
        names |= {k: torch.tensor(v) for k, v in guidance_values.items()}
        for name, value in names.items():
            # Already equal on every rank; sync_dist only averages equal values (and silences Lightning).
            self.log(f"{split}/{name}", value.float(), prog_bar=name in ("wa", "ua"), sync_dist=True)
        shuffled_values = {k: v.item() for k, v in names.items() if k.startswith(PREFIX)}
        return to_numpy(res) | attention_values | shuffled_values | guidance_values

    def on_validation_epoch_end(self) -> None:
        self.val_results = self._log_results("val")
        self.val_ua_best(torch.tensor(self.val_results["ua"], device=self.device))
        self.log("val/ua_best", self.val_ua_best.compute(), prog_bar=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.test_results = self._log_results("test")

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor | None]:
        """Class probabilities (softmax, or per-emotion sigmoid for multilabel), the attention matrix
        (B, m, n) and the per-frame weights (B, T) (both None without attention)."""
        out = self(batch)
        logits = out.logits.float()
        probs = logits.sigmoid() if self.meta.multilabel else logits.softmax(dim=1)
        return {
            "probs": probs,
            "attention": out.attention,
            "weights": out.weights,
            "index": batch.get("index"),
        }

    def configure_optimizers(self) -> Any:
        optimizer, scheduler = build_optimizers(
            self.hparams.optimizer, self.hparams.scheduler, self.parameters()
        )
        return optimizer if scheduler is None else {"optimizer": optimizer, "lr_scheduler": scheduler}
