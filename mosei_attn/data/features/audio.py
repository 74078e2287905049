"""Reading a span of a WAV file as float32 mono, and resampling it.

MOSEI stores one WAV per full video (``Raw/Audio/Full/WAV_16000``); a segment is a span of it. Only the
span is read (soundfile seeks to the first frame), at the file's real sample rate: the rate is read from
the file, never assumed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from mosei_attn.data.skip_report import NONFINITE_AUDIO
from mosei_attn.errors import UserFault

#: soxr quality for every resampling: "HQ" is its default and transparent for 8 kHz features.
RESAMPLE_QUALITY = "HQ"
#: A channel mix this much quieter than its loudest channel (power ratio) means the channels cancel
#: (one is the other inverted): the mix would be silence, so the loudest channel is used instead.
CANCEL_RATIO = 1e-3


class AudioReadError(UserFault, ValueError):
    """An audio file that cannot be read, or a cut of it that holds no samples. Names the file.

    ``reason`` is a short name of the fault, used to count skipped segments by kind.
    """

    def __init__(self, path: str | os.PathLike, fault: str, reason: str = "unreadable audio file"):
        super().__init__(f"{path}: {fault}")
        self.path = str(path)
        self.fault = fault
        self.reason = reason

    def __reduce__(self):  # keep it picklable across multiprocessing workers
        return (type(self), (self.path, self.fault, self.reason))


@dataclass(frozen=True)
class AudioSpan:
    """A cut of an audio file: ``samples`` (n,) float32 mono at ``sample_rate`` Hz; ``missing_seconds``: how
    much of the asked-for cut lies past the file's end (0.0 when none); ``channels_cancel``: the channels
    cancelled when averaged, so the loudest one alone was taken."""

    samples: np.ndarray
    sample_rate: int
    missing_seconds: float = 0.0
    channels_cancel: bool = False


def read_audio(
    path: str | os.PathLike,
    start: float | None = None,
    end: float | None = None,
    min_sample_rate: int | None = None,
) -> tuple[np.ndarray, int]:
    """Samples of ``path`` in [start, end) seconds as float32 mono (channels averaged), and the file's rate.

    ``start`` None (or negative: MOSEI has a few negative label starts) means the file's beginning;
    ``end`` None, or past the end, means the file's end. ``min_sample_rate`` (Hz) refuses files whose
    rate cannot represent the band the features need (e.g. 8000 for 0-4 kHz). See :func:`read_span`.

    Raises:
        FileNotFoundError: no such file.
        AudioReadError: an unreadable or corrupt file, a rate below ``min_sample_rate``, a cut that
            starts past the end of the file or holds no samples.
    """
    span = read_span(path, start, end, min_sample_rate)
    return span.samples, span.sample_rate


def read_span(
    path: str | os.PathLike,
    start: float | None = None,
    end: float | None = None,
    min_sample_rate: int | None = None,
    max_seconds: float | None = None,
) -> AudioSpan:
    """:func:`read_audio` that also says how much of the cut lies past the file's end and whether the
    channels cancelled. ``max_seconds`` reads at most that much from ``start`` (the rest of a long cut is
    not read; ``missing_seconds`` still measures the whole cut against the file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: audio file not found")
    cut = f"[{_fmt(start)}, {_fmt(end)}) s"
    try:
        with sf.SoundFile(path) as f:
            sr, n_total = int(f.samplerate), int(f.frames)
            if min_sample_rate is not None and sr < min_sample_rate:
                raise AudioReadError(
                    path,
                    f"sample rate {sr} Hz is below the {min_sample_rate} Hz the features need "
                    f"(it cannot represent 0-{min_sample_rate // 2} Hz)",
                    "audio sample rate too low",
                )
            first = 0 if start is None else max(0, int(round(start * sr)))
            want = n_total if end is None else int(round(end * sr))
            last = min(n_total, want)
            if max_seconds is not None:
                last = min(last, first + int(np.ceil(max_seconds * sr)))
            if first >= n_total:
                raise AudioReadError(
                    path,
                    f"cut {cut} starts past the end of the file ({n_total / sr:.3f} s long)",
                    "starts past the end of its audio",
                )
            if last <= first:
                raise AudioReadError(path, f"cut {cut} is empty (end is not after start)", "empty audio cut")
            f.seek(first)
            data = f.read(last - first, dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        raise AudioReadError(path, f"unreadable or corrupt audio file ({e})") from e
    if data.shape[0] == 0:
        raise AudioReadError(path, f"cut {cut} holds no samples (truncated file?)")
    finite = np.isfinite(data)
    if not finite.all():  # a float WAV can hold NaN or Inf: they would poison every feature
        first_bad = (first + int(np.argmin(finite.all(axis=1)))) / sr
        raise AudioReadError(
            path,
            f"{int(np.count_nonzero(~finite))} NaN or infinite sample(s) in cut {cut}, the first at "
            f"{first_bad:.3f} s: not audio the features can be computed from",
            NONFINITE_AUDIO,
        )
    # a file shorter than its header says (truncated) reads fewer samples than asked for: also missing
    missing = max(0, want - n_total) + (last - first - data.shape[0])
    mono, cancel = _mix(data)
    return AudioSpan(mono, sr, missing / sr, cancel)


def _mix(data: np.ndarray) -> tuple[np.ndarray, bool]:
    """(samples,) float32 mono of (samples, channels): their mean, or the loudest channel when they cancel."""
    if data.shape[1] < 2:
        return data[:, 0], False  # a mean over one channel would cost a pass over the samples
    mono = data.mean(axis=1, dtype=np.float32)
    power = np.mean(np.square(data, dtype=np.float64), axis=0)  # (channels,)
    if power.max() > 0 and np.mean(np.square(mono, dtype=np.float64)) < CANCEL_RATIO * power.max():
        return np.ascontiguousarray(data[:, int(power.argmax())]), True
    return mono, False


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``audio`` (samples,) float32 from ``sr_in`` Hz to ``sr_out`` Hz with soxr; unchanged when equal."""
    audio = np.asarray(audio, dtype=np.float32)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out} Hz")
    if sr_in == sr_out:
        return audio
    return soxr.resample(audio, sr_in, sr_out, quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def _fmt(t: float | None) -> str:
    return "-" if t is None else f"{t:.3f}"
