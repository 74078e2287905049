"""Reading a span of a WAV file as float32 mono, and resampling it.

MOSEI stores one WAV per full video (``Raw/Audio/Full/WAV_16000``); a segment is a span of it. Only the
span is read (soundfile seeks to the first frame), at the file's real sample rate: the rate is read from
the file, never assumed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: soxr quality for every resampling: "HQ" is its default and transparent for 8 kHz features.
RESAMPLE_QUALITY = "HQ"


class AudioReadError(ValueError):
    """An audio file that cannot be read, or a cut of it that holds no samples. Names the file."""

    def __init__(self, path: str | os.PathLike, fault: str):
        super().__init__(f"{path}: {fault}")
        self.path, self.fault = str(path), fault

    def __reduce__(self):  # keep it picklable across multiprocessing workers
        return (type(self), (self.path, self.fault))


def read_audio(
    path: str | os.PathLike,
    start: float | None = None,
    end: float | None = None,
    min_sample_rate: int | None = None,
) -> tuple[np.ndarray, int]:
    """Samples of ``path`` in [start, end) seconds as float32 mono (channels averaged), and the file's rate.

    ``start`` None (or negative: MOSEI has a few negative label starts) means the file's beginning;
    ``end`` None, or past the end, means the file's end. ``min_sample_rate`` (Hz) refuses files whose
    rate cannot represent the band the features need (e.g. 8000 for 0-4 kHz).

    Raises:
        FileNotFoundError: no such file.
        AudioReadError: an unreadable or corrupt file, a rate below ``min_sample_rate``, a cut that
            starts past the end of the file or holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: audio file not found")
    try:
        with sf.SoundFile(path) as f:
            sr, n_total = int(f.samplerate), int(f.frames)
            if min_sample_rate is not None and sr < min_sample_rate:
                raise AudioReadError(
                    path,
                    f"sample rate {sr} Hz is below the {min_sample_rate} Hz the features need "
                    f"(it cannot represent 0-{min_sample_rate // 2} Hz)",
                )
            first = 0 if start is None else max(0, int(round(start * sr)))
            last = n_total if end is None else min(n_total, int(round(end * sr)))
            cut = f"[{_fmt(start)}, {_fmt(end)}) s"
            if first >= n_total:
                raise AudioReadError(
                    path, f"cut {cut} starts past the end of the file ({n_total / sr:.3f} s long)"
                )
            if last <= first:
                raise AudioReadError(path, f"cut {cut} is empty (end is not after start)")
            f.seek(first)
            data = f.read(last - first, dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        raise AudioReadError(path, f"unreadable or corrupt audio file ({e})") from e
    if data.shape[0] == 0:
        raise AudioReadError(path, f"cut {cut} holds no samples (truncated file?)")
    return (data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)), sr


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
