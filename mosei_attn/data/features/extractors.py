"""Model inputs from raw data: audio -> a [0, 1] log-power spectrogram, word vectors -> a padded matrix.

docs/choices.md, "Features": mono, 8 kHz, STFT with a periodic Hamming window of 800 samples, hop 160 (20 ms),
centred frames; the 401 bins (0-4 kHz) lose the Nyquist bin and neighbouring pairs are averaged into 200
rows; power in dB relative to the segment's own maximum, clipped to the top 80 dB and scaled so 0 is
silence and 1 the loudest bin; 400 frames (8 s), shorter audio zero-padded and its length kept. Beside it,
each frame's speech flag from a voice activity detector (:mod:`mosei_attn.data.features.vad`).
Independent of torch and Lightning: the cache builder and ``predict`` both call it
(:meth:`AudioFeatures.extract`).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import scipy.fft

from mosei_attn.data.features.audio import resample
from mosei_attn.data.features.vad import check_vad_settings, speech_frames

#: Power at or below this (linear, audio in [-1, 1]) counts as digital silence: its dB is clipped to it
#: and it scales to 0, so all-zero audio gives an all-zero spectrogram instead of NaN or a flat 1.
POWER_FLOOR = 1e-10


@functools.lru_cache(maxsize=8)
def _analysis_window(kind: str, length: int, n_fft: int) -> np.ndarray:
    """``length`` samples of the periodic window centred in ``n_fft`` zeros (read-only; built once)."""
    w = np.zeros(n_fft, dtype=np.float32)
    left = (n_fft - length) // 2
    w[left : left + length] = _periodic_window(kind, length)
    w.flags.writeable = False
    return w


def _periodic_window(kind: str, length: int) -> np.ndarray:
    """A periodic (DFT-even) window, as ``scipy.signal.get_window`` and ``torch.stft`` use."""
    n = np.arange(length, dtype=np.float64)
    cos = np.cos(2.0 * np.pi * n / length)
    if kind == "hamming":
        w = 0.54 - 0.46 * cos
    elif kind == "hann":
        w = 0.5 - 0.5 * cos
    elif kind in ("boxcar", "rectangular"):
        w = np.ones(length)
    else:
        raise ValueError(f"unknown window {kind!r}; choose hamming, hann or boxcar")
    return w.astype(np.float32)


class _SettingsMixin:
    """``to_dict`` / ``from_dict`` for the frozen settings dataclasses (the dict goes in cache attributes)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown setting(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


@dataclass(frozen=True)
class AudioFeatures(_SettingsMixin):
    """Spectrogram settings. Rates in Hz, lengths in samples at ``sample_rate``, ``top_db`` in dB;
    ``vad_mode`` and ``vad_frame_ms``: the voice activity detector's aggressiveness (0-3) and frame (ms)."""

    sample_rate: int = 8000
    n_fft: int = 800
    win_length: int = 800
    hop_length: int = 160
    window: str = "hamming"
    top_db: float = 80.0
    freq_bins: int = 200
    max_frames: int = 400
    vad_mode: int = 1
    vad_frame_ms: int = 30

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "freq_bins", "max_frames"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"AudioFeatures.{name} must be positive, got {getattr(self, name)}")
        if self.win_length > self.n_fft:
            raise ValueError(f"AudioFeatures: win_length {self.win_length} exceeds n_fft {self.n_fft}")
        if self.n_fft % 2 or (self.n_fft // 2) % self.freq_bins:
            raise ValueError(
                f"AudioFeatures: n_fft {self.n_fft} must be even and its {self.n_fft // 2} bins below "
                f"Nyquist must group evenly into freq_bins {self.freq_bins}"
            )
        if self.top_db <= 0:
            raise ValueError(f"AudioFeatures.top_db must be positive, got {self.top_db}")
        _periodic_window(self.window, 1)  # fail early on an unknown window name
        check_vad_settings(self.vad_mode, self.vad_frame_ms)

    @property
    def bin_group(self) -> int:
        """How many neighbouring STFT bins average into one output row (2 for 800 -> 200)."""
        return (self.n_fft // 2) // self.freq_bins

    def n_frames_for(self, seconds: float, crop: bool = True) -> int:
        """Frames (centred, 1 + samples // hop) for ``seconds`` of audio; at most max_frames if ``crop``."""
        n = 1 + int(round(seconds * self.sample_rate)) // self.hop_length
        return min(n, self.max_frames) if crop else n

    @property
    def seconds_seen(self) -> float:
        """Seconds of audio from a cut's start that the model's ``max_frames`` frames are computed from (the
        last frame's window and a margin for resampling included): readers read no more than this."""
        return (self.max_frames * self.hop_length + self.n_fft) / self.sample_rate

    def window_array(self) -> np.ndarray:
        """The analysis window (n_fft,): ``win_length`` samples centred in n_fft, zeros around them."""
        return _analysis_window(self.window, self.win_length, self.n_fft).copy()

    def power_spectrogram(self, audio: np.ndarray) -> np.ndarray:
        """Power STFT (frames, n_fft // 2 + 1) of ``audio`` (samples,) already at ``sample_rate``."""
        pad = self.n_fft // 2
        x = np.pad(np.asarray(audio, dtype=np.float32), (pad, pad))  # centred frames
        frames = np.lib.stride_tricks.sliding_window_view(x, self.n_fft)[:: self.hop_length]
        # scipy's pocketfft transforms the rows ~6x faster than numpy's (same float32 precision)
        spec = scipy.fft.rfft(
            frames * _analysis_window(self.window, self.win_length, self.n_fft), axis=1
        )  # (frames, n_fft/2 + 1) complex64
        return (spec.real**2 + spec.imag**2).astype(np.float32, copy=False)

    def _grouped_power(self, x: np.ndarray) -> np.ndarray:
        """Power (frames, freq_bins): the STFT bins below Nyquist, ``bin_group`` neighbours averaged."""
        power = self.power_spectrogram(x)
        g = self.bin_group
        grouped = power[:, 0 : g * self.freq_bins : g].copy()  # strided sums: reshape().mean() is ~15x slower
        for k in range(1, g):
            grouped += power[:, k : g * self.freq_bins : g]
        grouped *= np.float32(1.0 / g)
        return grouped

    def compute(self, audio: np.ndarray, sr: int, source: str | None = None) -> tuple[np.ndarray, int]:
        """The model's spectrogram for ``audio`` at ``sr`` Hz: (freq_bins, max_frames) float32 in [0, 1].

        ``audio`` is (samples,) or (samples, channels) (channels are averaged). Returns the spectrogram
        and the number of real frames kept (the rest is zero padding). ``source`` names the audio in
        errors. The dB reference is the maximum over the audio given, before cropping: the readers (cache
        builder, predict) pass at most ``seconds_seen`` seconds, so it is the loudest bin of the part the
        model sees.
        """
        return self._spectrogram(self._signal(audio, sr, source))

    def extract(
        self, audio: np.ndarray, sr: int, source: str | None = None
    ) -> tuple[np.ndarray, int, np.ndarray]:
        """What the feature cache stores and ``predict`` computes for one cut: :meth:`compute`'s spectrogram
        and length, and its frames' speech mask (max_frames,) bool (False past the length)."""
        x = self._signal(audio, sr, source)
        spec, length = self._spectrogram(x)
        speech = np.zeros(self.max_frames, dtype=bool)
        speech[:length] = speech_frames(
            x, self.sample_rate, self.hop_length, length, self.vad_mode, self.vad_frame_ms
        )
        return spec, length, speech

    def _signal(self, audio: np.ndarray, sr: int, source: str | None) -> np.ndarray:
        """``audio`` (samples[, channels]) at ``sr`` Hz as checked mono float32 at ``sample_rate``."""
        where = f"{source}: " if source else ""
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim == 2:
            x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(
                f"{where}expected non-empty audio (samples,) or (samples, channels), got {x.shape}"
            )
        if sr < self.sample_rate:
            raise ValueError(
                f"{where}sample rate {sr} Hz is below the feature rate {self.sample_rate} Hz "
                f"(it cannot represent 0-{self.sample_rate // 2} Hz)"
            )
        return resample(x, sr, self.sample_rate)

    def _spectrogram(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """:meth:`compute` of mono ``x`` already at ``sample_rate``."""
        power = self._grouped_power(x)  # (frames, F)
        # The reference is the whole segment's maximum; dB only for the frames kept (log is monotonic).
        db_max = 10.0 * np.log10(max(float(power.max()), POWER_FLOOR))
        length = min(len(power), self.max_frames)
        kept = power[:length]
        db = 10.0 * np.log10(np.maximum(kept, POWER_FLOOR))
        scaled = np.clip((db - np.float32(db_max)) / np.float32(self.top_db) + np.float32(1.0), 0.0, 1.0)
        scaled[kept <= POWER_FLOOR] = 0.0  # silence is 0 even when the whole segment is silent
        out = np.zeros((self.freq_bins, self.max_frames), dtype=np.float32)  # (F, T), zero padded
        out[:, :length] = scaled.T
        return out, length


@dataclass(frozen=True)
class TextFeatures(_SettingsMixin):
    """Word-matrix settings: at most ``max_words`` words, each a ``dim``-d vector."""

    max_words: int = 40
    dim: int = 300

    def __post_init__(self) -> None:
        if self.max_words <= 0 or self.dim <= 0:
            raise ValueError(f"TextFeatures: max_words and dim must be positive, got {self}")

    def compute(self, vectors: np.ndarray, source: str | None = None) -> tuple[np.ndarray, int]:
        """(max_words, dim) float32 from word vectors (n, dim): truncated or zero padded; and the length."""
        where = f"{source}: " if source else ""
        v = np.asarray(vectors, dtype=np.float32)
        if v.size == 0:
            v = v.reshape(0, self.dim)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"{where}expected word vectors (n, {self.dim}), got shape {v.shape}")
        length = min(len(v), self.max_words)
        out = np.zeros((self.max_words, self.dim), dtype=np.float32)
        out[:length] = v[:length]
        return out, length


def feature_settings(audio: AudioFeatures, text: TextFeatures) -> dict[str, dict[str, Any]]:
    """The settings dict a cache records and a reader asks for: ``{"audio": {...}, "text": {...}}``."""
    return {"audio": audio.to_dict(), "text": text.to_dict()}
