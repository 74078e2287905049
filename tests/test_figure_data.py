"""What the figures show, checked through the data they were drawn from (never pixels): the attention figure's
segment, words, probabilities and title, and the sweep plots' bars and curves against hand computations."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from matplotlib.container import BarContainer

from mosei_attn import aggregate as agg
from mosei_attn.data.corpora.labels import EMOTIONS
from mosei_attn.reporting import figures, plots
from mosei_attn.training.build import build_datamodule, build_model


def test_attention_figure_shows_its_segment_words_and_probabilities(train_cfg, tmp_path, monkeypatch):
    cfg = train_cfg()
    dm = build_datamodule(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    model = build_model(cfg, dm.meta.to_dict()).eval()
    drawn = []
    monkeypatch.setattr(
        plots, "plot_prediction", lambda spec, path, **kw: drawn.append(kw | {"spec": spec}) or path
    )
    ds = dm.dataset("val")
    figures.attention_examples(model, ds, tmp_path)
    assert len(drawn) == figures.N_EXAMPLES
    for k, kw in zip(figures.example_indices(ds.targets), drawn, strict=True):
        row = int(ds.rows[k])
        segment_id, text = str(ds.cache.segment_id[row]), str(ds.cache.text[row])
        item = ds[k]
        with torch.no_grad():  # the model's own forward pass, softmax by hand
            out = model({key: v[None] for key, v in item.items()})
        logits = out.logits[0].double()
        probs = (logits.exp() / logits.exp().sum()).numpy()
        np.testing.assert_allclose(kw["probs"], probs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(kw["attention"], out.attention[0].numpy(), rtol=1e-5, atol=1e-7)
        assert kw["words"] == text.split() and kw["names"] == EMOTIONS
        assert kw["spec_len"] == int(item["spec_len"]) and np.array_equal(kw["spec"], item["spec"][0].numpy())
        truth, guess = EMOTIONS[int(item["target"])], EMOTIONS[int(np.argmax(probs))]
        assert kw["title"].startswith(f"{segment_id}")
        assert kw["title"].endswith(f"true {truth}, predicted {guess} ({probs.max():.2f})")


def _job(sweep: Path, seed: int, final: dict[str, float], epochs: list[tuple[float, float]]) -> None:
    """A finished job folder: its overrides, metrics.json and a metrics.csv of (val/wa, val/ua) per epoch."""
    job = sweep / f"{seed - 1}_job"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["model=shallow", f"seed={seed}"]))
    (job / "metrics.json").write_text(json.dumps({"model": "shallow", **final}))
    with open(job / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "step", "train/loss", "val/wa", "val/ua"])
        for e, (wa, ua) in enumerate(epochs):
            w.writerows([[e, 10 * e + 5, 1.0, "", ""], [e, 10 * e + 9, "", wa, ua]])  # a train row, a val row


def test_sweep_plots_draw_the_mean_and_std_of_the_runs(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    uas = (0.5, 0.7, 0.9)  # test/ua of three seeds: mean 0.7, sample std 0.2
    per_epoch = ([(0.1, 0.2), (0.3, 0.4)], [(0.3, 0.4), (0.5, 0.6)], [(0.5, 0.6), (0.7, 0.9)])
    for seed, (ua, epochs) in enumerate(zip(uas, per_epoch, strict=True), 1):
        _job(sweep, seed, {m: ua for m in agg.DEFAULT_METRICS}, epochs)
    figs = {}
    real_save = plots.save_figure
    monkeypatch.setattr(
        plots, "save_figure", lambda fig, path: figs.setdefault(Path(path).name, fig) and real_save(fig, path)
    )
    agg.aggregate([sweep])
    bars = figs["aggregate.png"].axes[0]
    drawn_bars = [c for c in bars.containers if isinstance(c, BarContainer)]
    for container in drawn_bars:  # one bar per metric (one configuration), its error bar +-1 std
        (bar,) = container.patches
        assert bar.get_height() == pytest.approx(70.0)
        ((_, low), (_, high)) = container.errorbar.lines[2][0].get_segments()[0]
        assert (low, high) == (pytest.approx(50.0), pytest.approx(90.0))
    assert len(drawn_bars) == len(agg.DEFAULT_METRICS)
    acc_axis = figs["aggregate_curves.png"].axes[1]  # losses left, val WA and UA (percent) right
    # by hand: val/wa per epoch (0.1, 0.3, 0.5) and (0.3, 0.5, 0.7): means 0.3 and 0.5, std 0.2 both
    # val/ua (0.2, 0.4, 0.6) -> 0.4, std 0.2; (0.4, 0.6, 0.9) -> 1.9 / 3, std sqrt(0.38 / 6)
    drawn = {line.get_label().split(",")[0]: line for line in acc_axis.lines}
    bands = dict(zip(("val/wa", "val/ua"), acc_axis.collections, strict=True))  # drawn in this order
    for metric, means, stds in (
        ("val/wa", (30, 50), (20, 20)),
        ("val/ua", (40, 190 / 3), (20, 100 * math.sqrt(0.38 / 6))),
    ):
        line = drawn[metric]
        assert list(line.get_xdata()) == [1, 2]  # epochs, 1-based
        np.testing.assert_allclose(line.get_ydata(), means)
        ys = bands[metric].get_paths()[0].vertices[:, 1]
        np.testing.assert_allclose([ys.min(), ys.max()], [means[0] - stds[0], means[1] + stds[1]])
