"""The mutants of the networks and their figures (``mosei_attn/models``): eq. 1, eq. 2, the speech gate,
the heads, the training step and WA / UA; part of :data:`tests.mutation.mutants.MUTANTS`."""

from __future__ import annotations

from tests.mutation.mutant import Mutant

ATTN = "mosei_attn/models/attention.py"
METRICS = "mosei_attn/models/metrics.py"
T_PAD = "tests/test_attention_padding.py"
T_GATE = "tests/test_speech_gate.py"
T_MODELS = "tests/test_models.py"
T_METRICS = "tests/test_metrics.py"
T_BOTH = "tests/test_text_guidance.py::test_both_sets_of_words_in_one_call_run_the_speech_cnn_once"
BASE = "mosei_attn/models/base.py"

MODEL_MUTANTS: tuple[Mutant, ...] = (
    # --- eq. 1, eq. 2 and the speech gate --------------------------------------------------------------
    Mutant(
        "eq1-softmax-over-words",
        ATTN,
        "attn = scores.softmax(dim=1) *",
        "attn = scores.softmax(dim=2) *",
        "eq. 1's softmax runs over the words instead of over time",
        (f"{T_MODELS}::test_padding_content_does_not_matter",),
    ),
    Mutant(
        "eq2-alpha-mean-over-words",
        ATTN,
        "alpha = attn.sum(dim=2)  # eq. 2",
        "alpha = attn.mean(dim=2)  # eq. 2",
        "alpha averages the columns over every word position (padding included) instead of summing the real "
        "ones",
        (
            f"{T_GATE}::test_with_the_gate_silence_takes_no_weight_and_eq1_covers_only_speech",
            f"{T_PAD}::test_the_frame_weights_extend_alpha_over_each_positions_frames",
        ),
    ),
    Mutant(
        "gate-needs-every-frame",
        ATTN,
        "heard = frames.reshape(b, size, stride).any(dim=2)",
        "heard = frames.reshape(b, size, stride).all(dim=2)",
        "the gate covers a position only when every frame of it is speech, not any one",
        (f"{T_GATE}::test_speech_positions_by_hand",),
    ),
    Mutant(
        "gate-keeps-every-position",
        ATTN,
        "    return torch.where(gated.any(dim=1, keepdim=True), gated, real)",
        "    return real",
        "the speech gate keeps every real position (silence covered)",
        (f"{T_GATE}::test_with_the_gate_silence_takes_no_weight_and_eq1_covers_only_speech",),
    ),
    Mutant(
        "inputs-not-masked",
        ATTN,
        "        spec, words = mask_inputs(spec, spec_len, words, word_len)\n        word_sets",
        "        word_sets",
        "the attention model reads the frames and words past each segment's length",
        (f"{T_PAD}::test_logits_do_not_depend_on_what_lies_past_the_length",),
    ),
    # --- the heads ---------------------------------------------------------------------------------------
    Mutant(
        "head-mean-counts-padding",
        ATTN,
        "return feats.sum(dim=-1) / n_real.to(feats.dtype)[:, None, None]",
        "return feats.mean(dim=-1)",
        "the attention head's mean over time counts the batch's padded positions",
        (f"{T_PAD}::test_a_segment_padded_in_a_batch_gives_the_logits_it_gives_alone",),
    ),
    Mutant(
        "trim-cuts-the-longest-segment",
        ATTN,
        "keep = min(max(-(-longest // stride), 1) * stride, n_frames)",
        "keep = min(max(longest // stride, 1) * stride, n_frames)",
        "a trimmed batch loses its longest segment's last, partly filled attention position",
        (f"{T_PAD}::test_a_batch_of_short_segments_runs_on_their_frames_only",),
    ),
    Mutant(
        "trim-weights-zero-past-the-cut",
        ATTN,
        'weights=F.pad(att.weights, (0, n_frames - att.weights.shape[1]), mode="replicate"),',
        "weights=F.pad(att.weights, (0, n_frames - att.weights.shape[1])),",
        "a trimmed batch's frame weights are 0 past the cut, where the untrimmed ones reuse the last weight",
        (f"{T_PAD}::test_a_batch_of_short_segments_runs_on_their_frames_only",),
    ),
    Mutant(
        "chunks-not-put-back",
        ATTN,
        "order = torch.cat(chunks).argsort()",
        "order = torch.cat(chunks)",
        "the chunks' outputs go back to the wrong places in the batch (another segment's logits and alpha)",
        (f"{T_PAD}::test_on_the_cpu_a_batch_runs_in_chunks_by_length_each_on_its_own_frames",),
    ),
    Mutant(
        "frame-weights-stop-a-position-early",
        ATTN,
        "idx = torch.minimum(idx, (attended - 1)[:, None])",
        "idx = torch.minimum(idx, (attended - 2).clamp(min=0)[:, None])",
        "the frames of the last attended position and past it take the weight of the position before it",
        (
            f"{T_PAD}::test_the_frame_weights_extend_alpha_over_each_positions_frames",
            "tests/test_alpha_probe.py",
        ),
    ),
    Mutant(
        "speech-cnn-per-word-set",
        ATTN,
        "att = self.attend(f, spec.shape[-1]",
        "att = self.attend(self.speech_features(spec, spec_len), spec.shape[-1]",
        "the speech CNN runs again for the other words: the same figures for twice its arithmetic",
        (T_BOTH,),
    ),
    Mutant(
        "shuffled-is-own",
        ATTN,
        "results[0].shuffled = results[1]",
        "results[0].shuffled = results[0]",
        "the result with the other words is the segments' own: the words never move alpha or the prediction",
        (T_BOTH,),
    ),
    Mutant(
        "module-calls-the-network-twice",
        BASE,
        'if other is not None and getattr(self.net, "takes_other_words", False):',
        "if False:",
        "the module runs a network that takes both sets of words once per set: its speech CNN twice",
        (T_BOTH,),
    ),
    Mutant(
        "text-path-zeroed",
        ATTN,
        "feats = torch.cat([feats, att.text.flatten(1)], dim=1)",
        "feats = torch.cat([feats, torch.zeros_like(att.text.flatten(1))], dim=1)",
        "model.text_path gives the head zeros instead of the text features",
        (f"{T_PAD}::test_text_path_feeds_the_words_to_the_head",),
    ),
    Mutant(
        "shallow-head-without-text",
        "mosei_attn/models/shallow.py",
        "self.head(torch.cat([speech, text], dim=1))",
        "self.head(torch.cat([speech, text * 0], dim=1))",
        "the shallow baseline's head never sees the words",
        (f"{T_PAD}::test_the_shallow_model_reads_the_words",),
    ),
    Mutant(
        "class-weight-no-clamp",
        "mosei_attn/models/base.py",
        "torch.tensor(counts, dtype=torch.float32).clamp(min=1)",
        "torch.tensor(counts, dtype=torch.float32)",
        "a class with no training sample gets weight inf (the loss NaN)",
        (f"{T_MODELS}::test_class_weights_from_counts",),
    ),
    # --- words left out in training --------------------------------------------------------------------
    Mutant(
        "training-keeps-every-word",
        BASE,
        "loss, _ = self._step(self.drop_words(batch))",
        "loss, _ = self._step(batch)",
        "model.words_dropout leaves no word out: every training segment keeps its words",
        (f"{T_MODELS}::test_words_dropout_leaves_out_the_words_of_a_share_of_the_training_segments",),
    ),
    Mutant(
        "dropped-words-keep-their-vectors",
        BASE,
        '"words": batch["words"] * keep[:, None, None].to(batch["words"].dtype),',
        '"words": batch["words"],',
        "a segment whose words are left out keeps their vectors: a network that reads past word_len (the "
        "paper's, without masks) still sees them",
        (f"{T_MODELS}::test_words_dropout_leaves_out_the_words_of_a_share_of_the_training_segments",),
    ),
    # --- WA / UA / macro figures -------------------------------------------------------------------------
    Mutant(
        "wa-macro",
        METRICS,
        'MulticlassAccuracy(c, average="micro"',
        'MulticlassAccuracy(c, average="macro"',
        "WA is the mean per-class recall instead of the share of correct segments",
        (f"{T_METRICS}::test_single_label_hand_computed",),
    ),
    Mutant(
        "ua-over-all-classes",
        METRICS,
        "ua = recall[present].mean()",
        "ua = recall.mean()",
        "UA averages over classes absent from the targets too",
        (f"{T_METRICS}::test_ua_ignores_classes_absent_from_targets",),
    ),
    Mutant(
        "precision-macro-present-only",
        METRICS,
        '"precision_macro": precision.mean(),\n            "recall_macro": recall.mean(),\n'
        '            "f1_macro": f1.mean(),\n            "confusion": cm,',
        '"precision_macro": precision[present].mean(),\n            "recall_macro": recall.mean(),\n'
        '            "f1_macro": f1.mean(),\n            "confusion": cm,',
        "precision_macro averages over the classes present in the targets only",
        (f"{T_METRICS}::test_ua_ignores_classes_absent_from_targets",),
    ),
)
