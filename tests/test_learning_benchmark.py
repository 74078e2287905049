"""benchmarks/learning.py's summary: validation beside the held-out test, shuffled-words figures when
logged."""

from __future__ import annotations

import pytest

from benchmarks import learning


def _run(ua: float, shuffled: bool) -> dict:
    run = {
        "test/ua": ua,
        "test/wa": ua + 0.1,
        "test/acc_two_stressed": ua,
        "test/pointing_two_stressed": 2 * ua,
    }
    if shuffled:
        run |= {
            "test/shuffled/ua": ua / 2,
            "test/text_guidance": 0.25,
            "test/shuffled/pointing_two_stressed": ua,
        }
    return run


def test_mean_std_over_seeds_and_a_table_without_shuffled_words():
    table = learning.summarise([_run(0.5, False), _run(0.7, False)], "test")
    assert table["ua"] == pytest.approx([0.6, 0.1, 2])
    assert table["pointing_two_stressed"] == pytest.approx([1.2, 0.2, 2])
    assert not any(k.startswith("shuffled/") for k in table) and "text_guidance" not in table
    text = learning.markdown("attention", {"ua": [0.55, 0.0, 2]}, table, "generator seed 7")
    assert "shuffled" not in text
    assert "| ua | 55.0 ± 0.0 | 60.0 ± 10.0 |" in text
    assert "| pointing two stressed | - | 1.20 ± 0.20 |" in text


def test_shuffled_words_beside_when_the_runs_log_them():
    table = learning.summarise([_run(0.5, True), _run(0.7, True)], "test")
    text = learning.markdown("attention", {}, table, "generator seed 7")
    assert "shuffled words |" in text.splitlines()[2]
    assert "| ua | - | 60.0 ± 10.0 | 30.0 ± 5.0 |" in text
    assert "| text guidance | - | 0.250 ± 0.000 | - |" in text
    assert "| pointing two stressed | - | 1.20 ± 0.20 | 0.60 ± 0.10 |" in text
    one = learning.summarise([_run(0.5, True)], "test")  # one seed: the mean alone
    assert "| ua | - | 50.0 | 25.0 |" in learning.markdown("attention", {}, one, "s7")


def test_the_heldout_corpus_is_another_seed_in_its_own_folder():
    overrides = learning.heldout_data(7, 0.8)
    assert "data.write_corpus.seed=7" in overrides
    assert "data.root=${paths.data_dir}/synthetic_seed7" in overrides
    assert "data.write_corpus.fold_fractions=[0.1,0.1,0.8]" in overrides
