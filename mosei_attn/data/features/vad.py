"""Which spectrogram frames hold speech: a trained voice activity detector, run once at feature extraction.

The detector is WebRTC's (pip ``webrtcvad-wheels``: Google's GMM detector in C, no model file, no torch),
chosen by measurement in docs/choices.md ("The speech gate"). It judges 16-bit PCM frames of ``frame_ms``
(10, 20 or 30 ms) at 8, 16, 32 or 48 kHz; each spectrogram frame takes the verdict of the detector frame
holding its centre (frame k, centred, at k hops). The audio goes to the detector at its own level (not
normalised): a recording's hiss stays non-speech however quiet the speech around it.
"""

from __future__ import annotations

import numpy as np
import webrtcvad

from mosei_attn.data.features.audio import resample

#: The rates WebRTC's detector takes (Hz); other feature rates are resampled to the first for it.
VAD_RATES = (8000, 16000, 32000, 48000)
#: Its frame lengths (ms) and its aggressiveness modes (0: calls the most speech, 3: the least).
VAD_FRAME_MS = (10, 20, 30)
VAD_MODES = (0, 1, 2, 3)


def check_vad_settings(mode: int, frame_ms: int) -> None:
    """ValueError naming the setting when the detector cannot take it."""
    if mode not in VAD_MODES:
        raise ValueError(f"AudioFeatures.vad_mode must be one of {VAD_MODES}, got {mode!r}")
    if frame_ms not in VAD_FRAME_MS:
        raise ValueError(f"AudioFeatures.vad_frame_ms must be one of {VAD_FRAME_MS}, got {frame_ms!r}")


def speech_frames(
    x: np.ndarray, sample_rate: int, hop_length: int, n_frames: int, mode: int, frame_ms: int
) -> np.ndarray:
    """(n_frames,) bool: spectrogram frame k (centred at ``k * hop_length`` samples of ``x``, float32 in
    [-1, 1] at ``sample_rate``) holds speech. Frames whose centre lies past the detector's last whole frame
    take its verdict."""
    if sample_rate not in VAD_RATES:
        x, vad_rate = resample(x, sample_rate, VAD_RATES[0]), VAD_RATES[0]
    else:
        vad_rate = sample_rate
    n = vad_rate * frame_ms // 1000  # samples per detector frame
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")
    k = len(pcm) // n
    if k == 0:  # shorter than one detector frame: pad it with silence to one
        pcm, k = np.pad(pcm, (0, n - len(pcm))), 1
    raw = pcm[: k * n].tobytes()
    vad = webrtcvad.Vad(mode)
    size = 2 * n
    flags = np.fromiter((vad.is_speech(raw[i * size : (i + 1) * size], vad_rate) for i in range(k)), bool, k)
    centres = np.arange(n_frames) * hop_length / sample_rate  # seconds
    idx = np.minimum((centres * 1000 // frame_ms).astype(np.int64), k - 1)
    return flags[idx]
