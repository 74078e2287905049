"""Speech-like audio: source-filter synthesis of words on a pitch contour with formants, consonant bursts,
pauses and room noise; one video's audio, transcript, labels and word timings."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.signal import butter, lfilter
from scipy.signal.windows import tukey

from mosei_attn.data.corpora.mosei_layout import (
    SILENCE_TOKEN,
    TRANSCRIPT_SEP,
)
from mosei_attn.synthetic.config import SyntheticConfig
from mosei_attn.synthetic.content import (
    STRESSED_ROLES,
    Prosody,
    segment_labels,
    segment_words,
    syllables,
    word_prosodies,
)

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
    n_syll = syllables(word, cfg)
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
    truth: list[dict[str, Any]]  # per label row: cue mode, stressed and rival word spans (s in the video)


class _Track:
    """A video's audio pieces and word rows (word, start sample, end sample), appended in time order."""

    def __init__(self, cfg: SyntheticConfig):
        self.cfg = cfg
        self.sr = cfg.sample_rate
        self.pieces: list[np.ndarray] = []
        self.rows: list[tuple[str, int, int]] = []
        self.cursor = 0

    def emit(self, word: str, audio: np.ndarray) -> None:
        if word != SILENCE_TOKEN or audio.size >= self.cfg.sp_min_s * self.sr:
            self.rows.append((word, self.cursor, self.cursor + audio.size))
        self.pieces.append(audio)
        self.cursor += audio.size

    def pause(self, seconds: float) -> None:
        self.emit(SILENCE_TOKEN, np.zeros(int(seconds * self.sr)))


def _speak_segment(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    track: _Track,
    spk: _Speaker,
    zipf: np.ndarray,
    negative_margin: bool,
) -> tuple[np.ndarray, tuple[float, float], list[str], int, dict[str, Any]]:
    """Speak one segment onto ``track``: its (7,) label row, its (start, end) in seconds with margins, its
    words, its dominant emotion's index and its cue truth (mode, stressed-word spans in seconds, and a
    two_stressed segment's rival word's span)."""
    sr = cfg.sample_rate
    row, emo, second = segment_labels(rng, cfg)
    words, roles, mode, rival = segment_words(rng, cfg, emo, second, zipf)
    prosodies = word_prosodies(roles, mode, emo, float(row[1 + emo]), rival, cfg)
    first, stressed, rivals = len(track.rows), [], []
    for j, (word, role, p) in enumerate(zip(words, roles, prosodies, strict=True)):
        f0 = spk.f0_hz * 2 ** ((p.pitch_st - cfg.declination_st * j / len(words)) / 12)
        level = cfg.speech_rms * 10 ** ((p.gain_db + spk.level_db) / 20)
        track.emit(word, _word_audio(rng, word, p, f0, level, spk, cfg))
        if role in STRESSED_ROLES or role == "rival":
            # rounded as the words csd's intervals are: the span is the word's interval to the bit
            span = np.round(np.array(track.rows[-1][1:]) / sr, 3).tolist()
            (rivals if role == "rival" else stressed).append(span)
        if j < len(words) - 1:
            long = rng.random() < cfg.long_pause_prob
            track.pause(rng.uniform(*(cfg.long_pause_s if long else cfg.pause_s)) * p.tempo)
    margins = rng.uniform(*(cfg.negative_margin_s if negative_margin else cfg.margin_s), 2)
    start, end = track.rows[first][1] / sr - margins[0], track.rows[-1][2] / sr + margins[1]
    cues = {"mode": mode, "stressed": stressed, **({"rival": rivals} if rivals else {})}
    return row, (round(start, 3), round(end, 3)), words, emo, cues


def _with_room_noise(
    rng: np.random.Generator, cfg: SyntheticConfig, speech: np.ndarray, spk: _Speaker
) -> np.ndarray:
    """``speech`` plus low-passed noise at the speaker's SNR, as 16-bit PCM samples."""
    noise = lfilter([1 - cfg.noise_pole], [1, -cfg.noise_pole], rng.standard_normal(speech.size))
    noise_level = cfg.speech_rms * 10 ** ((spk.level_db - rng.uniform(*cfg.snr_db)) / 20)
    audio = speech + noise * noise_level / max(_rms(noise), 1e-12)
    return np.round(np.clip(audio, -1.0, 1.0) * np.iinfo(np.int16).max).astype(np.int16)


def render_video(
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
    track = _Track(cfg)
    # a negative-start video begins at once, so its first label margin reaches below 0
    track.pause(
        rng.uniform(0.0, cfg.negative_margin_s[0] / 2) if negative_start else rng.uniform(*cfg.lead_in_s)
    )
    n_seg = int(rng.integers(cfg.segments_per_video[0], cfg.segments_per_video[1] + 1))
    labels = []
    intervals = []
    texts = []
    classes = []
    truth = []
    for s in range(n_seg):
        row, interval, words, emo, cues = _speak_segment(
            rng, cfg, track, spk, zipf, negative_start and s == 0
        )
        truth.append(cues)
        labels.append(row)
        intervals.append(interval)
        texts.append(words)
        classes.append(emo)
        track.pause(rng.uniform(*(cfg.segment_gap_s if s < n_seg - 1 else cfg.tail_s)))

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

    pcm = _with_room_noise(rng, cfg, np.concatenate(track.pieces), spk)
    return _Video(
        labels=np.stack(labels)[order],
        label_iv=np.array(intervals, dtype=np.float64)[order],
        words=[w for w, _, _ in track.rows],
        word_iv=np.round(np.array([(a, b) for _, a, b in track.rows], dtype=np.float64) / sr, 3),
        transcript=transcript,
        audio=pcm,
        classes=[classes[i] for i in order],
        truth=[truth[i] for i in order],
    )
