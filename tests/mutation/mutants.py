"""Hand-written mutants of the modules that decide results, each with the tests that should catch it.

A mutant is one small change a real edit could make: ``old`` (an exact snippet, found once in ``file``)
becomes ``new``. ``tests`` are the pytest node ids (or files) run against it; the mutant is caught when one
of them fails. An equivalent mutant changes nothing a run can observe: it is listed with the reason and
not run. ``python -m tests.mutation`` runs them (see its docstring and docs/testing.md).
"""

from __future__ import annotations

from tests.mutation.model_mutants import MODEL_MUTANTS
from tests.mutation.mutant import Mutant

__all__ = ["MUTANTS", "Mutant"]

CUES = "mosei_attn/synthetic/cue_metrics.py"
LABELS = "mosei_attn/data/corpora/labels.py"
RESUME = "mosei_attn/checkpoints/resume.py"
READING = "mosei_attn/checkpoints/reading.py"
T_CUES = "tests/test_attention_cues.py"
T_GATE = "tests/test_speech_gate.py"
T_LABELS = "tests/test_datamodule.py::test_label_rules_select_rows_and_targets"
T_REPORT = "tests/test_label_report.py::test_report_counts_every_rule_on_the_chosen_fold"
T_CKPT = "tests/test_faults_checkpoint.py"

MUTANTS: tuple[Mutant, ...] = (
    *MODEL_MUTANTS,
    # --- label rules -------------------------------------------------------------------------------------
    Mutant(
        "majority-half-is-enough",
        LABELS,
        "keep &= peak > 0.5 * emo.sum(axis=1) + 1e-6",
        "keep &= peak >= 0.5 * emo.sum(axis=1) - 1e-6",
        "majority keeps a row whose peak is exactly half of its sum",
        (T_LABELS,),
    ),
    Mutant(
        "majority-rule-deleted",
        LABELS,
        "        keep &= peak > 0.5 * emo.sum(axis=1) + 1e-6\n",
        "        pass\n",
        "majority selects what plurality selects",
        (T_LABELS,),
    ),
    Mutant(
        "plurality-keeps-ties",
        LABELS,
        "keep = valid & (peak > 0) & (n_at_peak == 1)",
        "keep = valid & (peak > 0)",
        "plurality and majority keep tied rows (the first tied emotion wins)",
        (T_LABELS, T_REPORT),
    ),
    Mutant(
        "argmax-2018-file-order",
        LABELS,
        'alphabetical = np.argsort(np.asarray(emotion_names), kind="stable")',
        "alphabetical = np.arange(len(emotion_names))",
        "argmax_2018 ranks the columns in file order, not alphabetically",
        ("tests/test_label_report.py::test_argmax_2018_ranks_the_columns_alphabetically",),
    ),
    # --- pointing and its floor ----------------------------------------------------------------------
    Mutant(
        "pointing-mean-of-modes",
        CUES,
        "out[key] = (total.sum() / n.sum()).item()",
        "out[key] = (total[n > 0] / n[n > 0]).mean().item()",
        "overall pointing is the mean of the per-mode means, not the mean over segments",
        (f"{T_CUES}::test_pointing_pools_segments_not_modes",),
    ),
    Mutant(
        "pointing-counts-stress-past-the-end",
        CUES,
        ".mean(dim=2) * length_mask(n_time, m)",
        ".mean(dim=2)",
        "stressed frames past a segment's real positions count in pointing",
        (f"{T_CUES}::test_stress_past_the_real_positions_is_not_counted",),
    ),
    Mutant(
        "pointing-share-over-all-positions",
        CUES,
        "stressed = share.sum(dim=1) / n_time.clamp(min=1)",
        "stressed = share.sum(dim=1) / share.shape[1]",
        "the stressed share is taken over every position, padding included",
        (f"{T_CUES}::test_pointing_is_one_for_uniform_alpha_and_higher_on_the_stressed_frames",),
    ),
    Mutant(
        "floor-is-the-models-pointing",
        CUES,
        "floor = pointing_on(even, share",
        "floor = pointing_on(alpha, share",
        "pointing_floor scores the model's alpha, not an even spread over the covered positions",
        (f"{T_GATE}::test_pointing_floor_is_what_an_even_spread_over_the_covered_positions_scores",),
    ),
    Mutant(
        "word-choice-over-all-of-alpha",
        CUES,
        "score = on_word / both.clamp(min=1e-12)",
        "score = on_word / alpha.sum(dim=1).clamp(min=1e-12)",
        "word choice divides by all of alpha, not by its mass on the two stressed words",
        (f"{T_CUES}::test_word_choice_between_the_emotion_word_and_its_rival_against_hand_worked_values",),
    ),
    Mutant(
        "follows-words-scores-the-own-label",
        CUES,
        "donors = target[word_donors(len(target), target.device)]",
        "donors = target",
        "follows_words scores the shuffled prediction against the segment's own label, not its donor's",
        (
            "tests/test_text_guidance.py::test_follows_words_scores_the_prediction_against_the_word_donors_label",
        ),
    ),
    # --- the cache's key -------------------------------------------------------------------------------
    Mutant(
        "content-hash-drops-fingerprint",
        "mosei_attn/data/datamodule.py",
        "h = hashlib.sha256(fingerprint.encode())",
        "h = hashlib.sha256()",
        "data.verify=content ignores the reader settings (another words rule reuses the cache)",
        ("tests/test_fingerprint.py::test_the_cache_key_follows_a_reader_setting_under_either_verify_mode",),
    ),
    Mutant(
        "format-version-not-in-key",
        "mosei_attn/data/cache/build.py",
        '            "format_version": FEATURE_CACHE_VERSION,\n        },\n        sort_keys=True,',
        "        },\n        sort_keys=True,",
        "a new cache format reuses the old format's file name",
        ("tests/test_cache.py::test_a_new_format_version_names_a_new_cache",),
    ),
    Mutant(
        "words-rule-not-hashed",
        "mosei_attn/data/corpora/mosei.py",
        "json.dumps([self.word_dim, self.words_rule, self.time_tolerance])",
        "json.dumps([self.word_dim, self.time_tolerance])",
        "the MOSEI reader's words rule is left out of the corpus fingerprint",
        ("tests/test_fingerprint.py::test_each_hashed_reader_setting_changes_the_fingerprint",),
    ),
    Mutant(
        "split-column-not-hashed",
        "mosei_attn/data/corpora/manifest.py",
        "json.dumps([self._emotions, self.split_column, str(self.audio_root)])",
        "json.dumps([self._emotions, str(self.audio_root)])",
        "a manifest's split column is left out of its fingerprint",
        ("tests/test_fingerprint.py",),
    ),
    # --- resume rules --------------------------------------------------------------------------------------
    Mutant(
        "resume-may-change-audio",
        RESUME,
        '    "data.verify",\n)',
        '    "data.verify", "data.audio",\n)',
        "a resume may change the audio features",
        ("tests/test_train.py::test_a_resume_that_changes_what_the_run_trains_is_refused",),
    ),
    Mutant(
        "resume-drops-a-setting-added-since",
        RESUME,
        'if "." not in key and key in now and key not in merged:',
        "if False:",
        "a run recorded before a top-level run setting existed resumes without it (figures: a KeyError)",
        (
            "tests/test_faults_cli.py::test_an_older_run_resumes_with_only_ckpt_path_and_its_recorded_settings",
        ),
    ),
    Mutant(
        "resume-derived-keys-conflict",
        RESUME,
        "        elif key in follows:  # it follows a resumable key",
        "        elif False:  # it follows a resumable key",
        "a cosine schedule that follows max_epochs is refused when a resume extends the epochs",
        (f"{T_CKPT}::test_a_cosine_run_extends_with_the_schedule_of_its_new_length",),
    ),
    Mutant(
        "evaluate-ignores-label-rule",
        "mosei_attn/evaluate.py",
        'RECORDED = ("emotion_names", "label_rule", "spec_shape", "text_shape")',
        'RECORDED = ("emotion_names", "spec_shape", "text_shape")',
        "evaluate accepts a checkpoint trained under another label rule",
        ("tests/test_evaluate_checks.py",),
    ),
    # --- checkpoint writing and CRC ------------------------------------------------------------------------
    Mutant(
        "crc-not-checked",
        READING,
        "            bad = z.testzip()",
        "            bad = None",
        "a checkpoint whose bytes fail their CRC is loaded",
        (f"{T_CKPT}::test_a_damaged_checkpoint_is_refused_by_name_wherever_it_is_loaded",),
    ),
    Mutant(
        "verify-archive-no-op",
        READING,
        '(reads the whole file)."""\n',
        '(reads the whole file)."""\n    return\n',
        "no checkpoint's archive is checked before it is loaded",
        (f"{T_CKPT}::test_a_damaged_checkpoint_is_refused_by_name_wherever_it_is_loaded",),
    ),
    Mutant(
        "run-without-atomic-checkpoints",
        "mosei_attn/training/trainer.py",
        "plugins = [AtomicCheckpointIO()]",
        "plugins = []",
        "a run writes its checkpoints with Lightning's writer (a failed copy truncates last.ckpt)",
        ("tests/test_train.py::test_checkpoint_rebuilds_without_the_dataset",),
    ),
    Mutant(
        "checkpoint-written-in-place",
        "mosei_attn/training/checkpoint_io.py",
        'atomic_path(path) as tmp,\n            open(tmp, "wb") as f,',
        'open(path, "wb") as f,',
        "the checkpoint writer overwrites the file in place",
        ("tests/test_faults_disk.py::test_a_failed_checkpoint_write_keeps_the_previous_one",),
    ),
    Mutant(
        "failed-write-leaves-temp",
        "mosei_attn/files.py",
        "    finally:\n        tmp.unlink(missing_ok=True)",
        "    finally:\n        pass",
        "a failed atomic write leaves its temporary file behind",
        ("tests/test_faults_disk.py::test_a_failed_checkpoint_write_keeps_the_previous_one",),
    ),
    # --- equivalent --------------------------------------------------------------------------------------
    Mutant(
        "ddp-child-without-run-folder",
        "mosei_attn/training/launch.py",
        "            f'hydra.run.dir=\"{run_dir}\"',\n",
        "",
        "equivalent: Lightning's DDP launcher already passes the child rank 0's hydra.run.dir",
        equivalent=True,
    ),
)
