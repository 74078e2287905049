"""benchmarks/word_columns.py: which attention column holds each stressed word, and the figures of one
segment's attention matrix read column by column."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import word_columns
from mosei_attn.data.corpora.csd import ComputationalSequence
from mosei_attn.data.corpora.mosei_layout import VECTORS_FILE
from mosei_attn.training.build import build_datamodule


def test_a_words_place_counts_the_segments_words_before_it():
    mids = np.array([0.5, 1.5, 2.5, 3.5, 4.5])  # a video's word midpoints, in time order
    assert word_columns.word_index(mids, 1.0, 5.0, [[3.2, 3.8]], 40) == 2  # after 1.5 and 2.5
    assert word_columns.word_index(mids, 1.0, 5.0, [[1.2, 1.9], [3.2, 3.8]], 40) == 0  # the first span
    assert word_columns.word_index(mids, 1.0, 5.0, [[3.2, 3.8]], 2) is None  # past the words kept
    assert word_columns.word_index(mids, 1.0, 5.0, [[0.2, 0.8]], 40) is None  # a word before the segment
    assert word_columns.word_index(mids, 1.0, 5.0, [[3.6, 3.9]], 40) is None  # no word's midpoint in it
    assert word_columns.word_index(mids, 1.0, 5.0, [], 40) is None


def test_one_segments_figures_against_a_hand_computation():
    """4 time positions, 3 word columns; the emotion word on position 1, its rival on position 3."""
    matrix = torch.tensor(
        [
            [0.00, 0.25, 0.0],
            [0.75, 0.25, 0.2],
            [0.00, 0.25, 0.4],
            [0.25, 0.25, 0.4],
        ]
    )  # column 0 holds the emotion word, column 1 the rival
    share, rival = torch.tensor([0.0, 1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.0, 1.0])
    alpha = matrix.sum(dim=1)  # eq. 2: (0.25, 1.2, 0.65, 0.9), total 3
    shuffled = torch.tensor([0.5, 0.5, 1.0, 1.0])
    got = word_columns.segment_figures(matrix, (alpha, shuffled), share, rival, torch.tensor(4), 0, 1)
    expected = {
        "emotion_column": 0.75,  # 0.75 / (0.75 + 0.25)
        "rival_column": 0.5,
        "other_columns": 0.2 / 0.6,
        "alpha": 1.2 / 2.1,
        "emotion_column_share": 1.0 / 2.1,  # the columns' mass on both words: 1.0, 0.5, 0.6
        "pointing": (1.2 / 3) / (1 / 4),  # alpha's share on the word over the word's share of the time
        "pointing_shuffled": (0.5 / 3) / (1 / 4),
        "pointing_perfect_column": (1.45 / 3) / (1 / 4),  # column 0 -> (0, 1, 0, 0): alpha 0.25, 1.45, ...
    }
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key
    # the rival's column past the real ones (all-zero): nothing can be said
    padded = torch.cat([matrix[:, :1], torch.zeros(4, 1)], dim=1)
    assert word_columns.segment_figures(padded, (alpha, shuffled), share, rival, torch.tensor(4), 0, 1) == {}


def test_the_places_found_are_the_stressed_words_in_the_cached_word_matrix(train_cfg):
    """On the tests' synthetic corpus, through the reader and the cache: the word vector at each place the
    probe finds is the vectors csd's row for the word the truth marks (the emotion word, the rival)."""
    dm = build_datamodule(train_cfg().data)
    dm.prepare_data()
    dm.setup("fit")
    places = word_columns.word_places(dm, "train")
    assert places, "the tests' corpus has two_stressed segments in its training split"
    truth, cache = dm.extras_provider.truth, dm.dataset("train").cache
    with ComputationalSequence(dm.corpus().root / VECTORS_FILE) as vectors:
        for row, found in places.items():
            video, entry = truth.entry(str(cache.segment_id[row]))
            feats, iv = vectors[video]
            cached = cache.batch(np.array([row]))["words"][0]  # (L, D) float16
            for key, place in zip(("stressed", "rival"), found, strict=True):
                (begin, end), mids = entry[key][0], iv.mean(axis=1)
                word = np.flatnonzero((mids >= begin) & (mids <= end))[0]
                np.testing.assert_array_equal(cached[place], feats[word].astype(np.float16))
            assert found[0] != found[1]
