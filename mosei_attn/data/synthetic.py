"""A small synthetic corpus in the REAL CMU-MOSEI on-disk layout (docs/data.md), read by the same reader.

Real MOSEI cannot be downloaded here, so the default run, the tests and CI use this corpus instead. Each
segment's dominant emotion shows in its WORDS (emotion words whose vectors cluster around an emotion
centroid, among many neutral words), in its PROSODY (per emotion: pitch level and range, loudness, tempo,
jitter) and in the two TOGETHER: the emotion word is spoken with the emotion's prosody (stressed) while the
rest of the sentence stays near neutral. Some segments carry one cue only, or an emotion word of another
(distractor) emotion spoken flatly, so neither modality alone is perfect but both together are informative.

Written under ``root`` (the names the reader in :mod:`mosei_attn.data.corpus` expects)::

    CMU_MOSEI_Labels.csd                      All Labels: (N, 7) per video, LABEL_COLUMNS order
    CMU_MOSEI_TimestampedWords.csd            words: (W, 1) bytes per video, ``sp`` rows for silences
    CMU_MOSEI_TimestampedWordVectors.csd      glove_vectors: (W, 300) float32, the words' rows/intervals
    Raw/Audio/Full/WAV_16000/<video>.wav      the full video, 16 kHz mono PCM_16
    Raw/Transcript/Segmented/Combined/<video>.txt   video___clip___start___end___text
    folds.json                                {"train": [...], "valid": [...], "test": [...]}
    glove.synthetic.300d.txt                  the vocabulary as a GloVe text file, to embed free text
    SYNTHETIC.json                            the parameters (written last: marks a complete corpus)

Speech is source-filter synthesis: a band-limited harmonic pulse train on a pitch contour with jitter,
spectral tilt, and three formant resonators per syllable (a vowel chosen by the word), unvoiced noise
bursts at some syllable onsets, pauses between words, and background noise at a modest SNR.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import string
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import butter, lfilter
from scipy.signal.windows import tukey

from mosei_attn.data.corpus import (
    AUDIO_DIR,
    FOLD_NAMES,
    LABELS_FILE,
    SILENCE_TOKEN,
    TRANSCRIPT_DIR,
    TRANSCRIPT_SEP,
    VECTORS_FILE,
    WORDS_FILE,
)
from mosei_attn.data.csd import write_csd
from mosei_attn.data.labels import EMOTIONS, LABEL_COLUMNS

FOLDS_FILE = "folds.json"
GLOVE_FILE = "glove.synthetic.300d.txt"
STAMP_FILE = "SYNTHETIC.json"
#: Bump when the generator's output changes for the same parameters: a stamped folder then mismatches.
FORMAT_VERSION = 1
#: How a segment's emotion is carried: word + prosody, prosody only, word only, or with a distractor word.
MODES: tuple[str, ...] = ("both", "prosody_only", "text_only", "distractor")

EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "happy": tuple(
        "happy glad love wonderful great enjoy excited awesome fantastic delighted fun smile".split()
    ),
    "sad": tuple("sad unhappy miss lonely cry sorry depressed grief lost tears heartbroken gloomy".split()),
    "anger": tuple(
        "angry furious hate mad annoyed outraged rage ridiculous unacceptable pissed stupid "
        "infuriating".split()
    ),
    "surprise": tuple(
        "surprised wow unexpected shocked amazing incredible suddenly whoa unbelievable "
        "astonished speechless omg".split()
    ),
    "disgust": tuple(
        "disgusting gross nasty awful sick revolting horrible vile filthy yuck repulsive creepy".split()
    ),
    "fear": tuple(
        "afraid scared fear terrified nervous worried anxious frightened panic danger scary dread".split()
    ),
}
NEUTRAL_WORDS: tuple[str, ...] = tuple(
    """
the a and to of i it that is was you in for this so like on with but just they have be what we my about
not do are at one really think know there because if or can all as get go people very movie thing would
more time some out then when up them going see also well which how he she his her has had will from by an
no yes kind lot other first much make way actually pretty say said two me our were been into film right
now only these those here even most any something product video story part point after before year day
week things little back over where while still another again show look bit review character end car phone
book music school work home house table water paper window door color number letter company money game
store city street morning evening second minute question answer reason idea fact case example
""".split()
)


@dataclass(frozen=True)
class Prosody:
    """How a word is spoken: pitch (semitones over the speaker's base f0), pitch excursion within the word
    (semitones), loudness (dB), tempo (word-duration factor, > 1 is slower) and jitter (relative f0 std)."""

    pitch_st: float
    range_st: float
    gain_db: float
    tempo: float
    jitter: float

    def toward(self, other: Prosody, w: float) -> Prosody:
        """The prosody a fraction ``w`` of the way from this one to ``other``."""
        return Prosody(
            *(a + w * (b - a) for a, b in zip(vars(self).values(), vars(other).values(), strict=True))
        )


PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(0.0, 2.0, 0.0, 1.0, 0.005),
    "happy": Prosody(3.0, 5.0, 3.0, 0.9, 0.01),  # moderately high, lively
    "sad": Prosody(-3.0, 1.0, -7.0, 1.35, 0.006),  # low, flat, quiet, slow
    "anger": Prosody(4.0, 4.0, 8.0, 0.88, 0.015),  # loud and high
    "surprise": Prosody(5.0, 9.0, 4.0, 1.0, 0.01),  # wide pitch range
    "disgust": Prosody(-2.0, 2.5, 1.0, 1.15, 0.012),  # low-ish, drawn out
    "fear": Prosody(5.0, 3.0, -2.0, 0.75, 0.035),  # high, fast, trembling
}
#: Sentiment (in [-3, 3]) of a segment whose dominant emotion is at full intensity.
SENTIMENT_BASE: dict[str, float] = {
    "happy": 1.6,
    "sad": -1.4,
    "anger": -1.7,
    "surprise": 0.4,
    "disgust": -1.5,
    "fear": -1.0,
}
#: Formants F1-F3 (Hz) of an adult male voice for a few vowels: /a/ /i/ /u/ /e/ /o/ /ae/ /er/.
VOWELS: tuple[tuple[float, float, float], ...] = (
    (730, 1090, 2440),
    (270, 2290, 3010),
    (300, 870, 2240),
    (530, 1840, 2480),
    (570, 840, 2410),
    (660, 1720, 2410),
    (490, 1350, 1690),
)
ID_CHARS = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class SyntheticConfig:
    """Every number of the generator. Times are seconds, levels dB, frequencies Hz, pitch semitones."""

    n_videos: int = 90
    segments_per_video: tuple[int, int] = (6, 10)
    seed: int = 0
    fold_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)  # train, valid, test (by video)
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
    mode_probs: tuple[float, float, float, float] = (0.55, 0.15, 0.15, 0.15)  # MODES order
    words_per_segment: tuple[int, int] = (5, 25)
    words_beta: tuple[float, float] = (2.0, 2.5)  # words = lo + (hi - lo) * Beta(a, b), rounded
    long_segment_prob: float = 0.01
    long_segment_words: tuple[int, int] = (40, 46)
    two_emotion_words_prob: float = 0.3  # "both"/"text_only" segments with two emotion words, not one
    distractor_true_word_prob: float = 0.5  # "distractor" segments whose stressed word is an emotion word
    secondary_word_prob: float = 0.5  # a second emotion's word appears (spoken plainly)
    zipf_offset: float = 2.0  # neutral word of rank r is drawn with probability ~ 1 / (r + offset)
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
        ]
        bad = [msg for ok, msg in problems if not ok]
        if bad:
            raise ValueError("invalid SyntheticConfig: " + "; ".join(bad))

    def to_json(self) -> dict[str, Any]:
        """The parameters as JSON values (tuples become lists), as stored in ``SYNTHETIC.json``."""
        return json.loads(json.dumps(asdict(self)))


@dataclass(frozen=True)
class _Speaker:
    f0_hz: float
    formant_scale: float
    level_db: float


# Speech synthesis -------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _bandpass(band: tuple[float, float], sr: int) -> tuple[np.ndarray, np.ndarray]:
    return butter(2, band, btype="bandpass", fs=sr)


def _resonate(x: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    """Klatt formant resonator: a 2nd-order peak at ``freq`` Hz of bandwidth ``bw`` Hz, unity gain at 0 Hz."""
    c = -np.exp(-2 * np.pi * bw / sr)
    b = 2 * np.exp(-np.pi * bw / sr) * np.cos(2 * np.pi * freq / sr)
    return lfilter([1 - b - c], [1, -b, -c], x)


def _pulse_train(f0: np.ndarray, cfg: SyntheticConfig) -> np.ndarray:
    """Sum of harmonics 1..K (K * max f0 <= cutoff) on the contour ``f0`` (Hz per sample), closed form."""
    phase = np.mod(2 * np.pi * np.cumsum(f0) / cfg.sample_rate, 2 * np.pi)
    k = max(1, int(cfg.source_cutoff_hz / f0.max()))
    den = 2 * np.sin(phase / 2)
    ok = np.abs(den) > 1e-9
    # Dirichlet kernel: sum_{h=1..k} cos(h x) = sin((k + 1/2) x) / (2 sin(x / 2)) - 1/2, limit k at x = 0
    return np.where(ok, np.sin((k + 0.5) * phase) / np.where(ok, den, 1.0), k + 0.5) - 0.5


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _word_audio(
    rng: np.random.Generator,
    word: str,
    p: Prosody,
    f0_hz: float,
    level: float,
    spk: _Speaker,
    cfg: SyntheticConfig,
) -> np.ndarray:
    """One spoken word: voiced syllables (a vowel per syllable, fixed by the word) with noisy onsets."""
    sr = cfg.sample_rate
    key = zlib.crc32(word.encode())  # the same word keeps its vowels wherever it is spoken
    n_syll = min(cfg.max_syllables, 1 + (len(word) - 1) // cfg.letters_per_syllable)
    lengths = (cfg.syllable_s * p.tempo * rng.uniform(*cfg.duration_jitter, n_syll) * sr).astype(int)
    t = np.linspace(0.0, 1.0, int(lengths.sum()))
    ctrl = rng.normal(0.0, p.jitter, max(2, int(t.size / sr * cfg.jitter_rate_hz)))
    wobble = np.interp(t, np.linspace(0.0, 1.0, ctrl.size), ctrl)
    f0 = f0_hz * 2 ** (p.range_st * (np.sin(np.pi * t) - 0.5) / 12) * (1 + wobble)  # rise-fall contour
    source = lfilter([1 - cfg.tilt_pole], [1, -cfg.tilt_pole], _pulse_train(f0, cfg))
    out, bursts = np.zeros(t.size), []
    for i, (a, m) in enumerate(zip(np.cumsum(lengths) - lengths, lengths, strict=True)):
        vowel = np.array(VOWELS[(key >> (3 * i)) % len(VOWELS)]) * spk.formant_scale
        syl = source[a : a + m]
        for f, bw in zip(
            vowel * (1 + rng.normal(0, cfg.formant_jitter, 3)), cfg.formant_bandwidths_hz, strict=True
        ):
            syl = _resonate(syl, f, bw, sr)
        out[a : a + m] = syl * tukey(m, cfg.envelope_taper)
        if rng.random() < cfg.consonant_prob:
            bursts.append((a, min(m, int(rng.uniform(*cfg.consonant_s) * sr))))
    out *= level / max(_rms(out), 1e-12)
    b, a_ = _bandpass(cfg.consonant_band_hz, sr)
    for a, m in bursts:  # unvoiced (fricative-like) noise over the syllable's onset
        noise = lfilter(b, a_, rng.standard_normal(m)) * tukey(m, 1.0)
        out[a : a + m] += noise * level * 10 ** (cfg.consonant_level_db / 20) / max(_rms(noise), 1e-12)
    return out


# Labels, words, prosody of one segment -------------------------------------------------------------
MAX_THIRDS = 9  # an intensity is the mean of 3 annotators' 0-3 ratings: a multiple of 1/3 up to 9/3


def _segment_labels(rng: np.random.Generator, cfg: SyntheticConfig) -> tuple[np.ndarray, int, int | None]:
    """A (7,) label row in LABEL_COLUMNS order, the dominant emotion's index and the second's (or None)."""
    emo = int(rng.choice(len(EMOTIONS), p=cfg.class_probs))
    k = 1 + int(rng.binomial(MAX_THIRDS - 1, cfg.intensity_p))
    row = np.zeros(len(LABEL_COLUMNS))
    row[1 + emo] = k / 3
    second, sentiment = None, SENTIMENT_BASE[EMOTIONS[emo]] * (1 + k / MAX_THIRDS) / 2
    if k >= 2 and rng.random() < cfg.second_emotion_prob:
        p = np.array(cfg.class_probs)
        p[emo] = 0.0
        second = int(rng.choice(len(EMOTIONS), p=p / p.sum()))
        k2 = int(rng.integers(1, k))  # strictly weaker than the dominant one
        row[1 + second] = k2 / 3
        sentiment += SENTIMENT_BASE[EMOTIONS[second]] * k2 / MAX_THIRDS
    row[0] = np.clip(np.round(3 * (sentiment + rng.normal(0, cfg.sentiment_noise))) / 3, -3, 3)
    return row.astype(np.float32), emo, second


def _segment_words(
    rng: np.random.Generator, cfg: SyntheticConfig, emo: int, second: int | None, zipf: np.ndarray
) -> tuple[list[str], list[str], str]:
    """Words, each word's role (plain / stress / neutral_stress / flat) and the segment's mode."""
    lo, hi = cfg.long_segment_words if rng.random() < cfg.long_segment_prob else cfg.words_per_segment
    n = lo + round((hi - lo) * rng.beta(*cfg.words_beta))
    words = [str(w) for w in rng.choice(NEUTRAL_WORDS, size=n, p=zipf)]
    roles = ["plain"] * n
    slots = iter(rng.permutation(n))
    mode = MODES[int(rng.choice(len(MODES), p=cfg.mode_probs))]

    def put(emotion: str | None, role: str) -> None:
        i = next(slots)
        if emotion is not None:
            words[i] = str(rng.choice(EMOTION_WORDS[emotion]))
        roles[i] = role

    name = EMOTIONS[emo]
    if mode in ("both", "text_only"):
        for _ in range(1 + int(rng.random() < cfg.two_emotion_words_prob)):
            put(name, "stress" if mode == "both" else "neutral_stress")
    elif mode == "prosody_only":
        put(None, "stress")  # a neutral word carries the emotion's prosody
    else:
        others = [e for i, e in enumerate(EMOTIONS) if i not in (emo, second)]
        put(str(rng.choice(others)), "flat")
        put(name if rng.random() < cfg.distractor_true_word_prob else None, "stress")
    if second is not None and rng.random() < cfg.secondary_word_prob:
        put(EMOTIONS[second], "plain")
    return words, roles, mode


def _role_prosody(
    role: str, emotion: str, intensity: float, sentence_share: float, cfg: SyntheticConfig
) -> Prosody:
    neutral, target = PROSODY["neutral"], PROSODY[emotion]
    if role == "plain":
        return neutral.toward(target, sentence_share)
    if role == "flat":
        return replace(neutral, range_st=neutral.range_st * cfg.flat_range_factor, gain_db=cfg.flat_gain_db)
    share = cfg.word_prosody_min + (1 - cfg.word_prosody_min) * intensity / 3
    base = neutral if role == "neutral_stress" else neutral.toward(target, share)
    return replace(
        base,
        gain_db=base.gain_db + cfg.stress_gain_db,
        range_st=base.range_st + cfg.stress_range_st,
        tempo=base.tempo * cfg.stress_lengthen,
    )


# One video ----------------------------------------------------------------------------------------
@dataclass
class _Video:
    labels: np.ndarray  # (S, 7) float32
    label_iv: np.ndarray  # (S, 2) seconds
    words: list[str]  # W rows, `sp` included
    word_iv: np.ndarray  # (W, 2) seconds
    transcript: list[str]
    audio: np.ndarray  # (n,) int16
    classes: list[int]


def _render_video(
    rng: np.random.Generator,
    vid: str,
    cfg: SyntheticConfig,
    zipf: np.ndarray,
    negative_start: bool,
    underscore: bool,
    shuffle_rows: bool,
) -> _Video:
    sr = cfg.sample_rate
    female = rng.random() < cfg.female_prob
    spk = _Speaker(
        f0_hz=rng.uniform(*(cfg.female_f0_hz if female else cfg.male_f0_hz)),
        formant_scale=cfg.female_formant_scale if female else 1.0,
        level_db=rng.uniform(*cfg.speaker_level_db),
    )
    pieces: list[np.ndarray] = []
    rows: list[tuple[str, int, int]] = []  # (word, start sample, end sample)
    cursor = 0

    def emit(word: str, audio: np.ndarray) -> None:
        nonlocal cursor
        if word != SILENCE_TOKEN or audio.size >= cfg.sp_min_s * sr:
            rows.append((word, cursor, cursor + audio.size))
        pieces.append(audio)
        cursor += audio.size

    def pause(seconds: float) -> None:
        emit(SILENCE_TOKEN, np.zeros(int(seconds * sr)))

    # a negative-start video begins at once, so its first label margin reaches below 0
    pause(rng.uniform(0.0, cfg.negative_margin_s[0] / 2) if negative_start else rng.uniform(*cfg.lead_in_s))
    n_seg = int(rng.integers(cfg.segments_per_video[0], cfg.segments_per_video[1] + 1))
    labels, intervals, texts, classes = [], [], [], []
    for s in range(n_seg):
        row, emo, second = _segment_labels(rng, cfg)
        words, roles, mode = _segment_words(rng, cfg, emo, second, zipf)
        share = 0.0 if mode == "text_only" else cfg.sentence_prosody_share
        first = len(rows)
        for j, (word, role) in enumerate(zip(words, roles, strict=True)):
            p = _role_prosody(role, EMOTIONS[emo], float(row[1 + emo]), share, cfg)
            f0 = spk.f0_hz * 2 ** ((p.pitch_st - cfg.declination_st * j / len(words)) / 12)
            level = cfg.speech_rms * 10 ** ((p.gain_db + spk.level_db) / 20)
            emit(word, _word_audio(rng, word, p, f0, level, spk, cfg))
            if j < len(words) - 1:
                long = rng.random() < cfg.long_pause_prob
                pause(rng.uniform(*(cfg.long_pause_s if long else cfg.pause_s)) * p.tempo)
        margins = rng.uniform(*(cfg.negative_margin_s if negative_start and s == 0 else cfg.margin_s), 2)
        start, end = rows[first][1] / sr - margins[0], rows[-1][2] / sr + margins[1]
        labels.append(row)
        intervals.append((round(start, 3), round(end, 3)))
        texts.append(words)
        classes.append(emo)
        pause(rng.uniform(*(cfg.segment_gap_s if s < n_seg - 1 else cfg.tail_s)))

    if underscore:  # e.g. a bleeped word: the reason transcripts are split at most 4 times
        words = texts[int(rng.integers(n_seg))]
        words.insert(int(rng.integers(1, len(words))), "_" * int(rng.integers(*cfg.underscore_run)))
    transcript = [
        TRANSCRIPT_SEP.join((vid, str(c), repr(float(a)), repr(float(b)), " ".join(w).capitalize() + "."))
        for c, ((a, b), w) in enumerate(zip(intervals, texts, strict=True))
    ]
    order = (
        rng.permutation(n_seg) if shuffle_rows else np.arange(n_seg)
    )  # label rows need not be in time order

    speech = np.concatenate(pieces)
    noise = lfilter([1 - cfg.noise_pole], [1, -cfg.noise_pole], rng.standard_normal(speech.size))
    noise_level = cfg.speech_rms * 10 ** ((spk.level_db - rng.uniform(*cfg.snr_db)) / 20)
    audio = speech + noise * noise_level / max(_rms(noise), 1e-12)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * np.iinfo(np.int16).max).astype(np.int16)
    return _Video(
        labels=np.stack(labels)[order],
        label_iv=np.array(intervals, dtype=np.float64)[order],
        words=[w for w, _, _ in rows],
        word_iv=np.round(np.array([(a, b) for _, a, b in rows], dtype=np.float64) / sr, 3),
        transcript=transcript,
        audio=pcm,
        classes=[classes[i] for i in order],
    )


# The corpus ---------------------------------------------------------------------------------------
def vocabulary(cfg: SyntheticConfig) -> dict[str, np.ndarray]:
    """Word -> (vector_dim,) float32: emotion words = their emotion's centroid + noise, neutral words random.

    Components are rounded to 5 decimals, so the GloVe text file and the vectors csd hold the same values.
    """
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(2)[1])
    d, spread = cfg.vector_dim, np.sqrt(1 + cfg.word_noise**2)  # neutral words get the same expected norm
    vecs = {w: rng.standard_normal(d) * spread for w in NEUTRAL_WORDS}
    for emotion, centroid in zip(EMOTIONS, rng.standard_normal((len(EMOTIONS), d)), strict=True):
        vecs.update({w: centroid + cfg.word_noise * rng.standard_normal(d) for w in EMOTION_WORDS[emotion]})
    return {w: np.round(v * cfg.vector_scale / spread, 5).astype(np.float32) for w, v in vecs.items()}


def _count(n: int, fraction: float) -> int:
    return max(1, round(fraction * n)) if fraction > 0 else 0


def _video_ids(rng: np.random.Generator, cfg: SyntheticConfig) -> list[str]:
    """YouTube-like 11-character ids, a few purely numeric ones, one starting with '-' (as "-3g5yACwYnA")."""
    n_numeric, ids = _count(cfg.n_videos, cfg.numeric_id_fraction), []
    while len(ids) < cfg.n_videos:
        if len(ids) < n_numeric:
            vid = str(rng.integers(cfg.numeric_id_range[0], cfg.numeric_id_range[1]))
        else:
            vid = "".join(rng.choice(list(ID_CHARS), cfg.video_id_length))
            vid = "-" + vid[1:] if len(ids) == n_numeric else vid
        if vid not in ids:
            ids.append(vid)
    return [ids[i] for i in rng.permutation(len(ids))]


def _folds(rng: np.random.Generator, ids: list[str], cfg: SyntheticConfig) -> dict[str, list[str]]:
    order = [ids[i] for i in rng.permutation(len(ids))][cfg.n_unfolded_videos :]
    n_valid, n_test = (max(1, round(f * len(order))) for f in cfg.fold_fractions[1:])
    n_train = len(order) - n_valid - n_test
    if n_train < 1:
        raise ValueError(f"fold_fractions {cfg.fold_fractions} leave no training video of {cfg.n_videos}")
    return {
        "train": sorted(order[:n_train]),
        "valid": sorted(order[n_train : n_train + n_valid]),
        "test": sorted(order[n_train + n_valid :]),
    }


def _metadata(description: str, dims: list[str] | None) -> dict[str, Any]:
    return {
        "computational sequence description": description,
        "dimension names": dims,
        "computational sequence version": "1.0",
        "alignment compatible": True,
        "dataset name": "CMU-MOSEI (synthetic)",
        "dataset version": "1.0",
        "creator": "mosei_attn.data.synthetic",
        "contact": "",
        "featureset bib citation": "",
        "dataset bib citation": "",
    }


def _generate(out: Path, cfg: SyntheticConfig) -> dict[str, Any]:
    """Write the whole corpus into ``out``; returns the summary stored in the stamp."""
    streams = np.random.SeedSequence(cfg.seed).spawn(cfg.n_videos + 2)  # 0 layout, 1 vocabulary, 2+ videos
    rng = np.random.default_rng(streams[0])
    vocab = vocabulary(cfg)
    ids = _video_ids(rng, cfg)
    folds = _folds(rng, ids, cfg)
    flags = [
        set(rng.choice(cfg.n_videos, _count(cfg.n_videos, f), replace=False).tolist())
        for f in (cfg.negative_start_fraction, cfg.underscore_text_fraction, cfg.shuffled_rows_fraction)
    ]
    zipf = 1.0 / (np.arange(len(NEUTRAL_WORDS)) + cfg.zipf_offset)
    zipf /= zipf.sum()
    fold_of = {v: f for f, vs in folds.items() for v in vs}
    counts = {f: dict.fromkeys(EMOTIONS, 0) for f in (*FOLD_NAMES, "none")}
    labels, words, vectors, seconds = {}, {}, {}, 0.0
    zero = np.zeros(cfg.vector_dim, np.float32)
    for i, vid in enumerate(ids):
        v = _render_video(np.random.default_rng(streams[2 + i]), vid, cfg, zipf, *(i in f for f in flags))
        wav = out / AUDIO_DIR / f"{vid}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, v.audio, cfg.sample_rate, subtype="PCM_16")
        txt = out / TRANSCRIPT_DIR / f"{vid}.txt"
        txt.parent.mkdir(parents=True, exist_ok=True)
        txt.write_text("\n".join(v.transcript) + "\n", encoding="utf-8")
        labels[vid] = (v.labels, v.label_iv)
        words[vid] = (np.array([w.encode() for w in v.words]).reshape(-1, 1), v.word_iv)
        vectors[vid] = (np.stack([vocab.get(w, zero) for w in v.words]), v.word_iv)  # `sp` -> zeros
        seconds += v.audio.size / cfg.sample_rate
        for c in v.classes:
            counts[fold_of.get(vid, "none")][EMOTIONS[c]] += 1
    write_csd(
        out / LABELS_FILE,
        "All Labels",
        labels,
        _metadata("Synthetic sentiment and emotion labels per segment", list(LABEL_COLUMNS)),
    )
    write_csd(out / WORDS_FILE, "words", words, _metadata("Synthetic time-stamped words", None))
    write_csd(
        out / VECTORS_FILE,
        "glove_vectors",
        vectors,
        _metadata("Synthetic GloVe-like word vectors of the time-stamped words", None),
    )
    (out / FOLDS_FILE).write_text(json.dumps(folds, indent=1) + "\n", encoding="utf-8")
    with open(out / GLOVE_FILE, "w", encoding="utf-8") as f:
        for w, vec in vocab.items():
            f.write(w + " " + " ".join(f"{x:.5f}" for x in vec) + "\n")
    return {
        "videos": {f: len(vs) for f, vs in folds.items()} | {"none": cfg.n_unfolded_videos},
        "segments": {f: sum(c.values()) for f, c in counts.items()},
        "classes": counts,
        "audio_seconds": round(seconds, 1),
    }


def read_stamp(root: str | os.PathLike) -> dict[str, Any] | None:
    """The ``SYNTHETIC.json`` stamp of a complete synthetic corpus, or None where there is none."""
    path = Path(root) / STAMP_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path}: unreadable synthetic-corpus stamp ({e}); delete the folder to rebuild"
        ) from e


def _matches(stamp: dict[str, Any] | None, cfg: SyntheticConfig) -> bool:
    return (
        stamp is not None
        and stamp.get("format_version") == FORMAT_VERSION
        and stamp.get("config") == cfg.to_json()
    )


def write_synthetic_corpus(
    root: str | os.PathLike,
    n_videos: int | None = None,
    segments_per_video: tuple[int, int] | None = None,
    seed: int | None = None,
    fold_fractions: tuple[float, float, float] | None = None,
    overwrite: bool = False,
    config: SyntheticConfig | None = None,
    **overrides: Any,
) -> Path:
    """Write a synthetic MOSEI-layout corpus at ``root`` (see the module docstring) and return ``root``.

    Parameters left None come from ``config`` (default: ``SyntheticConfig()``); ``overrides`` may set any
    other ``SyntheticConfig`` field. Atomic: written into a temporary sibling folder, renamed when complete.
    Idempotent: a complete corpus with the same parameters is left as it is. A folder written with other
    parameters raises ``FileExistsError`` unless ``overwrite=True``; a non-empty folder that is not a
    synthetic corpus (no ``SYNTHETIC.json``) is never deleted.
    """
    given = dict(
        n_videos=n_videos,
        segments_per_video=segments_per_video,
        seed=seed,
        fold_fractions=fold_fractions,
        **overrides,
    )
    unknown = set(given) - {f.name for f in fields(SyntheticConfig)}
    if unknown:
        raise TypeError(f"unknown synthetic corpus parameter(s) {sorted(unknown)}; see SyntheticConfig")
    # Hydra hands sequences over as ListConfig: store them as tuples, as the dataclass defaults are
    given = {
        k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
        for k, v in given.items()
        if v is not None
    }
    cfg = replace(config or SyntheticConfig(), **given)
    root = Path(root)
    old = read_stamp(root) if root.is_dir() else None
    if _matches(old, cfg):
        return root
    if root.exists():
        if old is None and (not root.is_dir() or any(root.iterdir())):
            raise FileExistsError(
                f"{root}: exists and is not a synthetic corpus (no {STAMP_FILE}); refusing to "
                "write over it, even with overwrite=True: choose another folder"
            )
        if old is not None and not overwrite:
            diff = {
                k: (v, cfg.to_json().get(k))
                for k, v in old.get("config", {}).items()
                if cfg.to_json().get(k) != v
            }
            raise FileExistsError(
                f"{root}: holds a synthetic corpus written with other parameters ({diff or 'another format version'}"
                f" as (old, new)); pass overwrite=True to replace it, or choose another folder"
            )
    root.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp, trash = root.with_name(f".{root.name}.tmp-{tag}"), root.with_name(f".{root.name}.old-{tag}")
    try:
        t0 = time.perf_counter()
        summary = _generate(tmp, cfg)
        stamp = {
            "generator": __name__,
            "format_version": FORMAT_VERSION,
            "config": cfg.to_json(),
            "summary": summary,
            "generation_seconds": round(time.perf_counter() - t0, 2),
        }
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
        if root.exists():
            os.replace(root, trash)  # an old corpus we may replace, or an empty folder
        try:
            os.rename(tmp, root)
        except OSError:
            if _matches(read_stamp(root), cfg):  # another process finished the same corpus first
                return root
            raise
    finally:
        for path in (tmp, trash):
            shutil.rmtree(path, ignore_errors=True)
    return root


def main(argv: list[str] | None = None) -> None:
    """``python -m mosei_attn.data.synthetic ROOT [--videos N] [--seed S]``: write a corpus, print a summary."""
    defaults = SyntheticConfig()
    ap = argparse.ArgumentParser(description="Write a synthetic corpus in the CMU-MOSEI on-disk layout.")
    ap.add_argument("root", type=Path, help="folder to create (its parent must be writable)")
    ap.add_argument("--videos", type=int, default=defaults.n_videos, help="number of videos")
    ap.add_argument("--seed", type=int, default=defaults.seed, help="random seed (same seed, same files)")
    ap.add_argument(
        "--segments",
        type=int,
        nargs=2,
        default=defaults.segments_per_video,
        metavar=("LO", "HI"),
        help="segments per video, inclusive range",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace a corpus written with other parameters")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        root = write_synthetic_corpus(
            args.root,
            n_videos=args.videos,
            seed=args.seed,
            segments_per_video=tuple(args.segments),
            overwrite=args.overwrite,
        )
    except (FileExistsError, ValueError) as e:
        ap.exit(2, f"error: {e}\n")
    stamp = read_stamp(root) or {}
    summary = stamp.get("summary", {})
    print(
        f"{root}: synthetic MOSEI-layout corpus ({time.perf_counter() - t0:.1f} s this call, "
        f"{stamp.get('generation_seconds')} s to generate, {summary.get('audio_seconds', 0) / 60:.1f} min of audio)"
    )
    print(f"{'fold':<6} {'videos':>6} {'segs':>5}  " + " ".join(f"{e:>8}" for e in EMOTIONS))
    for fold, by_class in summary.get("classes", {}).items():
        print(
            f"{fold:<6} {summary['videos'][fold]:>6} {summary['segments'][fold]:>5}  "
            + " ".join(f"{by_class[e]:>8}" for e in EMOTIONS)
        )


if __name__ == "__main__":
    main()
