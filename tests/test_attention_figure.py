"""What the attention figure (figure 2) tells a reader, read from the figure's own artists, not pixels."""

from __future__ import annotations

import numpy as np
import pytest

from mosei_attn.reporting import plots

NAMES = ("happy", "sad", "anger", "surprise", "disgust", "fear")


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """The figure plot_prediction builds, kept open instead of saved."""
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    rng = np.random.default_rng(0)
    attention = rng.random((25, 20))
    attention /= attention.sum(axis=0)
    highlight = np.zeros(200, dtype=bool)
    highlight[40:72] = True
    plots.plot_prediction(
        rng.random((100, 200)),
        tmp_path / "a.png",
        attention=attention,
        words="one two three four five six seven eight nine ten".split(),
        probs=[0.1, 0.5, 0.1, 0.1, 0.1, 0.1],
        names=NAMES,
        spec_len=180,
        n_words=5,
        hop_seconds=0.04,
        max_hz=4000,
        title="seg[0]",
        highlight=highlight,
        highlight_label="stressed words",
        weights=np.ones(200),
        true=(2,),
    )
    return figures[0]


def test_true_class_is_marked_in_the_probability_bars(drawn) -> None:
    bars_ax = next(ax for ax in drawn.axes if ax.get_xlabel().startswith("probability"))
    labels = [t.get_text() for t in bars_ax.get_yticklabels()]
    assert labels[2] == "anger (true)" and sum("(true)" in t for t in labels) == 1
    outlined = [
        i for i, bar in enumerate(bars_ax.patches) if bar.get_linewidth() > 0 and bar.get_edgecolor()[3] > 0
    ]
    assert outlined == [2]
    colours = [bar.get_facecolor() for bar in bars_ax.patches]
    assert colours[1] != colours[0]  # the predicted class (sad, p=0.5) stands out


def test_columns_are_named_as_pooled_word_pairs(drawn) -> None:
    matrix_ax = next(ax for ax in drawn.axes if "after the text CNN" in ax.get_xlabel())
    assert "pooled word pairs (2 words each)" in matrix_ax.get_xlabel()
    assert [t.get_text() for t in matrix_ax.get_xticklabels()] == [
        "one two",
        "three four",
        "five six",
        "seven eight",
        "nine ten",
    ]


def test_highlighted_span_and_its_outline_have_legends(drawn) -> None:
    legends = {
        ax: [t.get_text() for t in ax.get_legend().get_texts()] for ax in drawn.axes if ax.get_legend()
    }
    texts = sorted(t for v in legends.values() for t in v)
    assert texts == ["stressed words", "stressed words (rows)"]
