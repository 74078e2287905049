"""Figures: every run saves the confusion matrices, attention of fixed validation segments and the log-scaling
figure; the plotting functions cope with segments without words, very short or silent audio."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from mosei_attn.data.features import AudioFeatures
from mosei_attn.reporting import figures, plots
from mosei_attn.train import train

RUN_FIGURES = ("confusion_test", "attention_0", "attention_1", "attention_2", "spectrogram_scaling")
NAMES = ("happy", "sad", "anger", "surprise", "disgust", "fear")


def assert_picture(path: Path, min_bytes: int = 10_000) -> None:
    """A readable PNG of a plausible size with something drawn on it (not one flat colour)."""
    assert path.is_file() and path.stat().st_size > min_bytes, path
    img = mpimg.imread(path)
    assert img.shape[0] > 250 and img.shape[1] > 400, img.shape
    assert float(img[..., :3].std()) > 0.05


def test_a_training_run_saves_and_logs_its_figures(train_cfg, tmp_path, monkeypatch, caplog):
    _, objects = train(train_cfg("++trainer.fast_dev_run=true"))  # debug=fdr would replace debug=tiny_shapes
    run = objects["output_dir"]
    for name in RUN_FIGURES:
        assert_picture(run / f"{name}.png")

    # Figure 3 needs the segment's audio; without it the run still gets figure 2, and a warning.
    def gone(*args):
        raise FileNotFoundError("audio file not found")

    monkeypatch.setattr(figures, "segment_audio", gone)
    with caplog.at_level(logging.WARNING):
        paths = figures.training_figures(objects["model"], objects["datamodule"], tmp_path / "again")
    assert [p.name for p in paths] == ["attention_0.png", "attention_1.png", "attention_2.png"]
    assert "figure 3" in caplog.text and not (tmp_path / "again" / "spectrogram_scaling.png").exists()

    class TensorBoardLogger:  # records what figures.log_figures sends (named like Lightning's)
        def __init__(self):
            self.experiment, self.images = self, {}

        def add_image(self, tag, img, dataformats):
            self.images[tag] = (img.shape, dataformats)

    tb = TensorBoardLogger()
    figures.log_figures([tb], paths)
    assert set(tb.images) == {f"figures/attention_{i}" for i in range(3)}
    assert all(shape[2] == 3 and fmt == "HWC" for shape, fmt in tb.images.values())


@pytest.mark.parametrize(
    ("targets", "n", "expected"),
    [
        (np.array([2, 1, 1, 0, 1, 2, 3]), 3, [1, 0, 3]),  # first of the 3 commonest: 1 (x3), 2 (x2), then 0
        (np.array([4, 4, 4]), 3, [0, 1, 2]),  # one class: the earliest others fill up
        (np.array([[0, 1, 0], [1, 0, 0], [0, 1, 1]]), 2, [0, 1]),  # multilabel: keyed by first emotion
        (np.array([], dtype=np.int64), 3, []),
    ],
)
def test_example_segments_are_fixed_and_cover_the_commonest_classes(targets, n, expected):
    assert figures.example_indices(targets, n) == expected


def test_prediction_figure_edge_cases(tmp_path):
    rng = np.random.default_rng(0)
    spec, att = rng.random((16, 64)).astype(np.float32), rng.random((8, 4)).astype(np.float32)
    probs = rng.dirichlet(np.ones(len(NAMES)))
    scale = {"hop_seconds": 0.008, "max_hz": 4000.0}
    cases = {
        "no_words": dict(attention=att, words=[], n_words=0, spec_len=40, probs=probs, names=NAMES),
        "one_frame": dict(attention=att, words=["hi"], n_words=1, spec_len=1, probs=probs, names=NAMES),
        "no_frames": dict(attention=att, words=["hi"], n_words=1, spec_len=0),
        "shallow": dict(probs=probs, names=NAMES, spec_len=64),
        "more_words_than_columns": dict(attention=att, words=list("abcdefghij"), n_words=9, spec_len=64),
    }
    for name, kw in cases.items():
        path = plots.plot_prediction(spec, tmp_path / f"{name}.png", title=name, **scale, **kw)
        assert_picture(path, min_bytes=5_000)
    assert plots.word_column_labels(["a", "b", "c"], 4, 2) == ["a b", "c"]
    assert plots.word_column_labels([], 4, 0) == []


@pytest.mark.parametrize(
    ("seconds", "rate", "channels"), [(0.005, 44_100, 2), (1.0, 8_000, 1), (0.3, 16_000, 1)]
)
def test_log_scaling_figure_for_short_stereo_and_silent_audio(tmp_path, monkeypatch, seconds, rate, channels):
    n = int(seconds * rate)
    t = np.arange(n) / rate
    wav = 0.3 * np.sin(2 * np.pi * 440 * t) * (seconds < 1.0)  # the 1 s case is digital silence
    wav = np.stack([wav] * channels, axis=1) if channels > 1 else wav
    settings = AudioFeatures(n_fft=64, win_length=64, hop_length=64, freq_bins=16, max_frames=64)
    drawn = {}
    save = plots.save_figure
    monkeypatch.setattr(
        plots, "save_figure", lambda fig, path: drawn.setdefault("fig", fig) and save(fig, path)
    )
    path = figures.log_scaling_figure(settings, wav.astype(np.float32), rate, tmp_path / "fig3.png", "short")
    assert path.is_file()
    before, after = (ax.images[0] for ax in drawn["fig"].axes[:2])  # the two panels (then the colour bars)
    for image in (before, after):  # resampled to the features' 8 kHz: 0..4000 Hz up, 8 ms per 64-sample hop
        x0, x1, y0, y1 = image.get_extent()
        assert (x0, y0, y1) == (0, 0, 4000.0)
        if seconds == 1.0:
            assert x1 == pytest.approx(64 * 0.008)  # max_frames frames of the 125 in 1 s
    assert before.get_array().shape[0] == 64 // 2 + 1  # the STFT's bins, linear
    scaled = np.asarray(after.get_array())
    assert after.get_array().shape[0] == 16 and scaled.min() >= 0 and scaled.max() <= 1
    if seconds < 1.0:  # a tone: its loudest bin is 1 after scaling ("max -> 1")
        assert scaled.max() == pytest.approx(1.0)


def test_confusion_figure_with_an_empty_class(tmp_path):
    cm = np.zeros((4, 4), dtype=np.int64)
    cm[0, 0], cm[1, 2] = 5, 3
    assert_picture(plots.plot_confusion(cm, ["a", "b", "c", "d"], tmp_path / "cm.png", title="4 classes"))
