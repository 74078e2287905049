"""Figures: every run saves the confusion matrices, attention of fixed validation segments and the log-scaling
figure; the plotting functions cope with segments without words, very short or silent audio."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb

from mosei_attn.data.features.extractors import AudioFeatures
from mosei_attn.models.metrics import EmotionMetrics, to_numpy
from mosei_attn.reporting import figures, plots, sweep_plots
from mosei_attn.reporting.run_report import confusion_title
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
    # debug=fdr would replace debug=tiny_shapes
    _, objects = train(train_cfg("++trainer.fast_dev_run=true", "figures=true"))
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
            self.experiment = self
            self.images = {}

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


def test_prediction_figure_edge_cases(tmp_path, monkeypatch):
    """What each panel draws, for the edge cases: the spectrogram's real frames (at least one), the attention
    matrix cropped to the real time positions (64 frames / 8 rows: 8 frames a row) and word columns (an empty
    one without words), and one bar per emotion at its probability, the largest orange."""
    rng = np.random.default_rng(0)
    spec, att = rng.random((16, 64)).astype(np.float32), rng.random((8, 4)).astype(np.float32)
    probs = rng.dirichlet(np.ones(len(NAMES)))
    scale = {"hop_seconds": 0.008, "max_hz": 4000.0}
    #: case -> (arguments, the spectrogram's frames drawn, the attention matrix drawn or None, bars drawn)
    cases = {
        "no_words": (
            dict(attention=att, words=[], n_words=0, spec_len=40, probs=probs, names=NAMES),
            40,
            np.zeros((5, 1)),
            True,
        ),
        "one_frame": (
            dict(attention=att, words=["hi"], n_words=1, spec_len=1, probs=probs, names=NAMES),
            1,
            att[:1, :1],
            True,
        ),
        "no_frames": (dict(attention=att, words=["hi"], n_words=1, spec_len=0), 1, att[:1, :1], False),
        "shallow": (dict(probs=probs, names=NAMES, spec_len=64), 64, None, True),
        "more_words_than_columns": (
            dict(attention=att, words=list("abcdefghij"), n_words=9, spec_len=64),
            64,
            att,
            False,
        ),
    }
    drawn = {}
    save = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: drawn.update(fig=fig) or save(fig, path))
    for name, (kw, frames, matrix, bars) in cases.items():
        path = plots.plot_prediction(spec, tmp_path / f"{name}.png", title=name, **scale, **kw)
        assert_picture(path, min_bytes=5_000)
        images = [ax.images[0] for ax in drawn["fig"].axes if ax.images and ax.get_label() != "<colorbar>"]
        np.testing.assert_array_equal(images[0].get_array(), spec[:, :frames], err_msg=name)
        assert images[0].get_extent()[1] == pytest.approx(frames * 0.008), name
        if matrix is None:
            assert len(images) == 1, name
        else:
            np.testing.assert_array_equal(images[1].get_array(), matrix, err_msg=name)
        bar_axes = [ax for ax in drawn["fig"].axes if ax.patches]
        if not bars:
            assert not bar_axes, name
            continue
        (ax,) = bar_axes
        assert [b.get_width() for b in ax.patches] == pytest.approx(list(probs)), name
        orange = [i for i, b in enumerate(ax.patches) if b.get_facecolor()[:3] == to_rgb("tab:orange")]
        assert orange == [int(np.argmax(probs))], name
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
    drawn = plots.plot_confusion(cm, ["a", "b", "c", "d"], tmp_path / "cm.png", title="4 classes")
    assert_picture(drawn.path)
    assert drawn.share[2].tolist() == [0, 0, 0, 0]  # no segment of class c: a row of zeros, no NaN


def test_confusion_figure_draws_the_runs_matrix_and_names_it(tmp_path):
    """The matrix drawn is the count of (target, prediction) pairs; the title names split, WA, UA, epoch and
    data; the colorbars are labelled and the right panel's labels stay off the left colorbar."""
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, 200)  # the sixth class never occurs
    logits = rng.normal(size=(200, 6)) + 2 * np.eye(6)[target]
    metrics = EmotionMetrics(6)
    metrics.update(torch.from_numpy(logits), torch.from_numpy(target))
    results = to_numpy(metrics.compute())
    title = confusion_title("attention", "val", results, {"checkpoint_epoch": 4, "data": "synthetic-abc"})
    drawn = plots.plot_confusion(results["confusion"], NAMES, tmp_path / "confusion_val.png", title=title)
    counts = np.zeros((6, 6))
    for t, p in zip(target, logits.argmax(axis=1), strict=True):
        counts[t, p] += 1
    np.testing.assert_array_equal(drawn.counts, counts)
    np.testing.assert_allclose(drawn.share[:5].sum(axis=1), 1.0)
    wa, ua = (
        np.mean(logits.argmax(axis=1) == target),
        np.mean([counts[k, k] / counts[k].sum() for k in range(5)]),
    )
    assert drawn.title == (
        f"attention: val split, WA {100 * wa:.1f}%, UA {100 * ua:.1f}%, epoch 5, data synthetic-abc"
    )
    assert drawn.colorbar_labels == ("segments", "share of the true class")
    assert not drawn.overlap
    assert_picture(drawn.path)


def _lightning_csv(path: Path, val: list[tuple[float, float, float]]) -> None:
    """A metrics.csv as Lightning's CSV logger writes it: a train row and a val row per epoch, and a test
    row."""
    cols = ["epoch", "step", "lr-Adam", "train/loss", "val/loss", "val/wa", "val/ua", "test/ua"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for epoch, (loss, wa, ua) in enumerate(val):
            w.writerow({"epoch": epoch, "step": 3 * epoch + 2, "lr-Adam": 1e-3, "train/loss": 2 * loss})
            w.writerow({"epoch": epoch, "step": 3 * epoch + 2, "val/loss": loss, "val/wa": wa, "val/ua": ua})
        w.writerow({"epoch": len(val) - 1, "step": 3 * len(val), "test/ua": 0.1})


def test_run_curves_draw_what_metrics_csv_holds(tmp_path):
    _lightning_csv(tmp_path / "metrics.csv", [(1.0, 0.3, 0.2), (0.8, 0.5, 0.4), (0.9, 0.6, 0.4)])
    drawn = sweep_plots.run_curves(tmp_path, majority=sweep_plots.majority_wa([5, 3, 2]), title="run")
    assert drawn.path == tmp_path / "curves.png"
    assert_picture(drawn.path)
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    for metric, scale in (("train/loss", 1), ("val/loss", 1), ("val/wa", 100), ("val/ua", 100)):
        logged = [(int(r["epoch"]) + 1, scale * float(r[metric])) for r in rows if r[metric]]
        x, y = drawn.lines[("run", metric)]
        assert x.tolist() == [e for e, _ in logged], metric
        assert y == pytest.approx([v for _, v in logged]), metric
    assert drawn.best_epoch == {"run": 1}  # the first of the tied highest val/ua, as the checkpoint keeps
    assert drawn.majority_wa == pytest.approx(0.5)


def test_majority_class_wa_from_the_training_counts():
    assert sweep_plots.majority_wa([2, 6, 2]) == pytest.approx(0.6)
    assert sweep_plots.majority_wa([2, 6, 2], multilabel=True) is None  # counts of positives per emotion
    assert sweep_plots.majority_wa([]) is None
