"""Every number of the synthetic corpus generator, in one frozen dataclass."""

from __future__ import annotations

import json
import string
from dataclasses import asdict, dataclass
from typing import Any

from mosei_attn.data.corpora.labels import EMOTIONS
from mosei_attn.data.corpora.mosei_layout import (
    FOLD_NAMES,
)

#: How a segment's emotion is carried: word + prosody, prosody only, word only, with a distractor word, or by
#: two words stressed alike of which only the emotion word carries the label's prosody (docs/data.md).
MODES: tuple[str, ...] = ("both", "prosody_only", "text_only", "distractor", "two_stressed")
ID_CHARS = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class SyntheticConfig:
    """Every number of the generator. Times are seconds, levels dB, frequencies Hz, pitch semitones.

    The defaults ARE the default run's corpus (``data=synthetic`` passes only what a command line changes).
    """

    n_videos: int = (
        600  # ~4,800 segments: validation and test folds of ~950 each, so their UA means something
    )
    segments_per_video: tuple[int, int] = (6, 10)
    seed: int = 0
    fold_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)  # train, valid, test (by video)
    n_unfolded_videos: int = 1  # in no fold, as 399 real segments are
    # edge cases, as fractions of videos (at least one video each when > 0)
    numeric_id_fraction: float = 0.15  # "81406"-style ids
    numeric_id_range: tuple[int, int] = (10_000, 1_000_000)
    video_id_length: int = 11  # YouTube ids
    negative_start_fraction: float = 0.1  # first segment starts slightly before 0
    underscore_text_fraction: float = 0.1  # one transcript text holds a run of underscores
    underscore_run: tuple[int, int] = (3, 7)  # its length, [lo, hi)
    shuffled_rows_fraction: float = 0.05  # label rows not in time order
    # labels
    class_probs: tuple[float, ...] = (0.40, 0.16, 0.22, 0.04, 0.11, 0.07)  # EMOTIONS order
    intensity_p: float = 0.35  # dominant intensity = (1 + Binomial(8, p)) / 3
    second_emotion_prob: float = 0.3
    sentiment_noise: float = 0.6
    # words and text
    # MODES order: two_stressed 0.15, the others 0.85 of it in their proportions 0.55 / 0.15 / 0.15 / 0.15
    mode_probs: tuple[float, ...] = (0.4675, 0.1275, 0.1275, 0.1275, 0.15)
    words_per_segment: tuple[int, int] = (5, 25)
    words_beta: tuple[float, float] = (2.0, 2.5)  # words = lo + (hi - lo) * Beta(a, b), rounded
    long_segment_prob: float = 0.01
    long_segment_words: tuple[int, int] = (40, 46)
    two_emotion_words_prob: float = 0.3  # "both"/"text_only" segments with two emotion words, not one
    distractor_true_word_prob: float = 0.5  # "distractor" segments whose stressed word is an emotion word
    secondary_word_prob: float = 0.5  # a second emotion's word appears (spoken plainly)
    zipf_offset: float = 2.0  # neutral word of rank r is drawn with probability ~ 1 / (r + offset)
    vocabulary_seed: int = 0  # the words' vectors: the same for every `seed`, as GloVe is for every corpus
    vector_dim: int = 300
    word_noise: float = 0.75  # emotion word = centroid + this * noise (unit-variance components)
    vector_scale: float = 0.35  # GloVe-like component magnitudes
    # timing
    syllable_s: float = 0.14
    duration_jitter: tuple[float, float] = (0.85, 1.15)
    letters_per_syllable: int = 3
    max_syllables: int = 3
    pause_s: tuple[float, float] = (0.03, 0.18)
    long_pause_prob: float = 0.08
    long_pause_s: tuple[float, float] = (0.25, 0.5)
    sp_min_s: float = 0.1  # pauses at least this long get an `sp` row
    segment_gap_s: tuple[float, float] = (0.6, 2.5)
    lead_in_s: tuple[float, float] = (0.3, 1.5)
    tail_s: tuple[float, float] = (0.5, 1.5)
    margin_s: tuple[float, float] = (0.05, 0.25)  # label interval beyond the first/last word
    negative_margin_s: tuple[float, float] = (0.05, 0.3)
    # voice and prosody
    sample_rate: int = 16_000
    male_f0_hz: tuple[float, float] = (90.0, 140.0)
    female_f0_hz: tuple[float, float] = (165.0, 240.0)
    female_prob: float = 0.5
    female_formant_scale: float = 1.15
    speaker_level_db: tuple[float, float] = (-3.0, 2.0)
    speech_rms: float = 0.03  # voiced-speech RMS of a neutral word (full scale 1)
    snr_db: tuple[float, float] = (20.0, 30.0)
    noise_pole: float = 0.7  # one-pole low-pass on background noise (room noise is not white)
    source_cutoff_hz: float = 4000.0  # highest harmonic of the pulse train
    tilt_pole: float = 0.9  # glottal spectral tilt, about -6 dB/octave above 250 Hz
    formant_bandwidths_hz: tuple[float, float, float] = (80.0, 100.0, 140.0)
    formant_jitter: float = 0.05
    envelope_taper: float = 0.4
    jitter_rate_hz: float = 60.0
    consonant_prob: float = 0.5
    consonant_s: tuple[float, float] = (0.03, 0.07)
    consonant_band_hz: tuple[float, float] = (2500.0, 6000.0)
    consonant_level_db: float = -12.0
    sentence_prosody_share: float = 0.3  # unstressed words move this far toward the emotion's prosody
    word_prosody_min: float = 0.6  # stressed words: this share at intensity 0, all of it at 3
    stress_gain_db: float = 3.0
    stress_range_st: float = 2.0
    stress_lengthen: float = 1.15
    declination_st: float = 2.0
    flat_range_factor: float = 0.3  # distractor words are spoken flatly and a little quieter
    flat_gain_db: float = -2.0

    def __post_init__(self) -> None:
        lo, hi = self.segments_per_video
        problems = [
            (1 <= lo <= hi, f"segments_per_video must be 1 <= lo <= hi, got {self.segments_per_video}"),
            (
                self.n_videos >= self.n_unfolded_videos + len(FOLD_NAMES),
                f"n_videos={self.n_videos} must be >= n_unfolded_videos + 3 (one video per fold)",
            ),
            (
                len(self.fold_fractions) == 3 and abs(sum(self.fold_fractions) - 1) < 1e-6,
                f"fold_fractions (train, valid, test) must sum to 1, got {self.fold_fractions}",
            ),
            (
                len(self.class_probs) == len(EMOTIONS) and abs(sum(self.class_probs) - 1) < 1e-6,
                f"class_probs must be {len(EMOTIONS)} probabilities ({', '.join(EMOTIONS)}) summing to 1",
            ),
            (
                len(self.mode_probs) == len(MODES) and abs(sum(self.mode_probs) - 1) < 1e-6,
                f"mode_probs must be {len(MODES)} probabilities ({', '.join(MODES)}) summing to 1",
            ),
            (self.words_per_segment[0] >= 3, "words_per_segment must allow at least 3 words (cue slots)"),
            (
                len(self.mode_probs) != len(MODES)
                or self.mode_probs[MODES.index("two_stressed")] == 0
                or max(self.class_probs) < 0.5,
                "two_stressed segments pair the label with another emotion as often as the reverse, which "
                f"needs every class_probs below 0.5 (got {max(self.class_probs)}): lower it or set that "
                "mode's mode_probs to 0",
            ),
        ]
        bad = [msg for ok, msg in problems if not ok]
        if bad:
            raise ValueError("invalid SyntheticConfig: " + "; ".join(bad))

    def to_json(self) -> dict[str, Any]:
        """The parameters as JSON values (tuples become lists), as stored in ``SYNTHETIC.json``."""
        return json.loads(json.dumps(asdict(self)))
