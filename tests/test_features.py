"""Audio reading and the spectrogram / word-matrix features, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from mosei_attn.data.features.audio import AudioReadError, read_audio, resample
from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures
from tests.corpus_helpers import spoken
from tests.reference_features import previous_compute

RNG = np.random.default_rng(0)


def tones(sr: int, seconds: float, freqs=(440.0, 1500.0), noise: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    x = sum(0.3 * np.sin(2 * np.pi * f * t) for f in freqs) + noise * RNG.standard_normal(t.shape)
    return x.astype(np.float32)


def reference_spec(x: np.ndarray, fa: AudioFeatures) -> np.ndarray:
    """The same features from scipy's STFT: periodic Hamming, zero boundary padding, no final padding."""
    _, _, z = signal.stft(
        x.astype(np.float64),
        fs=fa.sample_rate,
        window=fa.window,
        nperseg=fa.n_fft,
        noverlap=fa.n_fft - fa.hop_length,
        boundary="zeros",
        padded=False,
        detrend=False,
    )  # (n_fft/2 + 1, frames), scaled by 1/sum(window): the dB reference cancels it
    power = np.abs(z[:-1]) ** 2
    power = power.reshape(fa.freq_bins, -1, power.shape[1]).mean(axis=1)  # (F, frames)
    db = 10 * np.log10(np.maximum(power, 1e-30))
    return np.clip((db - db.max()) / fa.top_db + 1.0, 0.0, 1.0)


def test_spectrogram_matches_scipy_stft():
    fa = AudioFeatures()
    x = tones(fa.sample_rate, 3.0, noise=0.01)
    spec, length = fa.compute(x, fa.sample_rate)
    ref = reference_spec(x, fa)
    assert length == ref.shape[1] == 1 + len(x) // fa.hop_length
    np.testing.assert_allclose(spec[:, :length], ref, atol=1e-4)
    # The tones land in their rows: 440 Hz is in the 20 Hz-wide row 22 (bins of 10 Hz, pairs averaged).
    row_hz = fa.sample_rate / 2 / fa.freq_bins
    assert spec[int(440 / row_hz), :length].mean() > 0.95


def test_shapes_lengths_range_and_padding():
    fa = AudioFeatures()
    short, length = fa.compute(tones(fa.sample_rate, 2.0, noise=0.01), fa.sample_rate)
    assert short.shape == (fa.freq_bins, fa.max_frames) and short.dtype == np.float32
    assert length == fa.n_frames_for(2.0) == 1 + 2 * fa.sample_rate // fa.hop_length
    assert short.min() >= 0.0 and short.max() == pytest.approx(1.0)
    assert not short[:, length:].any()  # padding is zeros
    assert short[:, :length].mean() > 0.1

    long_, length = fa.compute(tones(fa.sample_rate, 10.0), fa.sample_rate)
    assert long_.shape == (fa.freq_bins, fa.max_frames)
    assert length == fa.max_frames == fa.n_frames_for(10.0)
    assert fa.n_frames_for(10.0, crop=False) == 1 + 10 * fa.sample_rate // fa.hop_length


def test_resampled_input_gives_close_spectrogram():
    fa = AudioFeatures()
    spec8, len8 = fa.compute(tones(8000, 2.0), 8000)
    spec16, len16 = fa.compute(tones(16000, 2.0), 16000)
    assert len8 == len16
    assert np.abs(spec8 - spec16).mean() < 0.02
    peak_rows = spec16[:, len16 // 2].argsort()[-2:]
    assert set(peak_rows) == set(spec8[:, len8 // 2].argsort()[-2:])


def test_silent_and_stereo_input():
    fa = AudioFeatures()
    spec, length = fa.compute(np.zeros(fa.sample_rate, np.float32), fa.sample_rate)
    assert np.isfinite(spec).all() and not spec.any() and length == fa.n_frames_for(1.0)
    x = tones(fa.sample_rate, 1.0)
    np.testing.assert_allclose(
        fa.compute(np.stack([x, x], axis=1), fa.sample_rate)[0], fa.compute(x, fa.sample_rate)[0], atol=1e-6
    )


def test_audio_settings_validation_and_round_trip():
    fa = AudioFeatures(freq_bins=100, max_frames=50)
    assert fa.bin_group == 4 and fa.compute(tones(8000, 1.0), 8000)[0].shape == (100, 50)
    assert AudioFeatures.from_dict(fa.to_dict()) == fa
    with pytest.raises(ValueError, match="freq_bins 300"):
        AudioFeatures(freq_bins=300)
    with pytest.raises(ValueError, match="unknown setting"):
        AudioFeatures.from_dict({"hop": 10})
    with pytest.raises(ValueError, match="4000 Hz.*8000 Hz"):
        AudioFeatures().compute(tones(4000, 1.0), 4000)
    with pytest.raises(ValueError, match=r"vad_mode must be one of \(0, 1, 2, 3\), got 4"):
        AudioFeatures(vad_mode=4)
    with pytest.raises(ValueError, match="vad_frame_ms must be one of"):
        AudioFeatures(vad_frame_ms=25)


def test_the_speech_mask_at_a_rate_the_detector_does_not_take():
    """Features at 11,025 Hz: the detector hears a resampled copy, and the mask still has the spectrogram's
    frames (speech in the middle second, none in the silences around it)."""
    fa = AudioFeatures(sample_rate=11_025, n_fft=800, win_length=800, hop_length=441, max_frames=100)
    x = np.concatenate([np.zeros(16_000), spoken(5, 0), np.zeros(16_000)]).astype(np.float32)
    _, length, speech = fa.extract(x, 16_000)
    hop = fa.hop_length / fa.sample_rate
    assert speech.shape == (100,) and not speech[length:].any()
    assert not speech[: int(0.9 / hop)].any() and speech[int(1.2 / hop) : int(1.6 / hop)].all()


def test_text_features_truncate_pad_and_check_dim():
    tf = TextFeatures(max_words=4, dim=3)
    v = RNG.standard_normal((6, 3)).astype(np.float32)
    mat, length = tf.compute(v)
    assert mat.shape == (4, 3) and length == 4
    np.testing.assert_array_equal(mat, v[:4])
    mat, length = tf.compute(v[:2])
    assert length == 2 and not mat[2:].any()
    np.testing.assert_array_equal(mat[:2], v[:2])
    assert tf.compute(np.zeros((0, 3)))[1] == 0
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        tf.compute(np.zeros((2, 5)))
    assert TextFeatures.from_dict(tf.to_dict()) == tf


def test_read_audio_cuts_by_seeking(tmp_path, monkeypatch):
    sr = 16000
    ramp = np.linspace(-1, 1, 2 * sr, dtype=np.float32)
    path = tmp_path / "ramp.wav"
    sf.write(path, np.stack([ramp, -ramp * 0.5], axis=1), sr, subtype="FLOAT")  # stereo
    requested = []
    real_read = sf.SoundFile.read
    monkeypatch.setattr(
        sf.SoundFile,
        "read",
        lambda self, frames=-1, **kw: (requested.append(frames), real_read(self, frames, **kw))[1],
    )
    x, got_sr = read_audio(path, 0.5, 0.75)
    assert got_sr == sr and x.dtype == np.float32 and requested == [sr // 4]
    np.testing.assert_allclose(x, 0.25 * ramp[sr // 2 : 3 * sr // 4], atol=1e-6)  # channels averaged
    x, _ = read_audio(path, -0.2, 99.0)  # negative start clamps, end past the file clamps
    assert len(x) == 2 * sr


def test_read_audio_errors_name_the_file(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(8000, np.float32), 8000)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        read_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioReadError, match=r"a\.wav.*past the end"):
        read_audio(path, 2.0, 3.0)
    with pytest.raises(AudioReadError, match=r"a\.wav.*empty"):
        read_audio(path, 0.5, 0.5)
    with pytest.raises(AudioReadError, match=r"a\.wav.*8000 Hz.*16000 Hz"):
        read_audio(path, min_sample_rate=16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav file" * 10)
    with pytest.raises(AudioReadError, match=r"bad\.wav.*corrupt"):
        read_audio(bad)


def test_resample_identity_and_length():
    x = tones(16000, 1.0)
    assert resample(x, 16000, 16000) is x
    y = resample(x, 16000, 8000)
    assert y.dtype == np.float32 and abs(len(y) - 8000) <= 1


@pytest.mark.parametrize(
    "fa, sr, seconds, channels",
    [
        (AudioFeatures(), 8000, 3.0, 1),
        (AudioFeatures(), 16000, 11.0, 2),  # resampled, stereo, longer than max_frames: cropped
        (AudioFeatures(freq_bins=100, max_frames=50, window="hann"), 44100, 0.7, 1),  # 4 bins a row
    ],
)
def test_spectrogram_equals_the_previous_implementation(fa, sr, seconds, channels):
    x = tones(sr, seconds, freqs=(220.0, 950.0, 3100.0), noise=0.05)
    x[: len(x) // 5] = 0.0  # a silent stretch: its bins stay exactly 0
    x[int(0.9 * len(x)) :] *= 4.0  # the loudest part last: past the crop in the long case (dB reference)
    if channels == 2:
        x = np.stack([x, 0.3 * RNG.standard_normal(len(x)).astype(np.float32)], axis=1)
    spec, length = fa.compute(x, sr)
    ref, ref_length = previous_compute(fa, x, sr)
    assert length == ref_length and spec.dtype == np.float32
    np.testing.assert_allclose(spec, ref, rtol=0, atol=2e-5)
    assert np.array_equal(spec == 0, ref == 0)
