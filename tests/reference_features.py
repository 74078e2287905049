"""The spectrogram as this project computed it before its speed-up: the reference that the test of the
features and the data benchmark compare the current implementation with."""

from __future__ import annotations

import numpy as np

from mosei_attn.data.features.audio import resample
from mosei_attn.data.features.extractors import AudioFeatures


def previous_compute(fa: AudioFeatures, x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """The spectrogram as this project computed it before its speed-up, kept as the reference: numpy's
    FFT, ``reshape().mean()`` over neighbouring bins, dB of every frame before cropping."""
    x = resample(x.mean(axis=1) if x.ndim == 2 else x, sr, fa.sample_rate)
    pad = fa.n_fft // 2
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, (pad, pad)), fa.n_fft)[:: fa.hop_length]
    spec = np.fft.rfft(frames * fa.window_array(), axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)[:, :-1]
    power = power.reshape(len(power), fa.freq_bins, fa.bin_group).mean(axis=2)
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    scaled = np.clip((db - db.max()) / fa.top_db + 1.0, 0.0, 1.0)
    scaled[power <= 1e-10] = 0.0
    length = min(len(scaled), fa.max_frames)
    out = np.zeros((fa.freq_bins, fa.max_frames), dtype=np.float32)
    out[:, :length] = scaled[:length].T
    return out, length
