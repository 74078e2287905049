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
            "test/word_choice_two_stressed": ua,
            "test/shuffled/word_choice_two_stressed": 0.5,
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
    assert "| word choice two stressed | - | 0.60 ± 0.10 | 0.50 ± 0.00 |" in text  # a share, not percent
    one = learning.summarise([_run(0.5, True)], "test")  # one seed: the mean alone
    assert "| ua | - | 50.0 | 25.0 |" in learning.markdown("attention", {}, one, "s7")


def test_the_heldout_corpus_is_another_seed_in_its_own_folder():
    overrides = learning.heldout_data(7, 0.8)
    assert "data.write_corpus.seed=7" in overrides
    assert "data.root=${paths.data_dir}/synthetic_seed7" in overrides
    assert "data.write_corpus.fold_fractions=[0.1,0.1,0.8]" in overrides


def test_a_failed_run_is_named_and_the_others_are_summarised(tmp_path, monkeypatch, capsys):
    """One run of three fails (a killed process): the table holds the two others, each seed's figures are
    listed under it, the failure is named, and the exit status is 1."""
    import json
    import subprocess

    def train_one(model, seed, out, threads, extra):
        if seed == 2:
            raise subprocess.CalledProcessError(-15, ["python", "-m", "mosei_attn.train"])
        return {"val/ua": 0.5}

    def evaluate_heldout(run_dir, trained, extra, heldout, tag, threads):
        seed = int(run_dir.name.rsplit("seed", 1)[1])
        return _run(0.5 + 0.1 * seed, shuffled=True)

    monkeypatch.setattr(learning, "train_one", train_one)
    monkeypatch.setattr(learning, "evaluate_heldout", evaluate_heldout)
    with pytest.raises(SystemExit) as stop:
        learning.main(["--models", "attention", "--seeds", "1", "2", "3", "--out", str(tmp_path)])
    assert stop.value.code == 1
    assert "attention seed 2: failed (stopped by signal 15" in capsys.readouterr().err
    text = (tmp_path / "learning.md").read_text()
    assert "| ua | 50.0 ± 0.0 | 70.0 ± 10.0 | 35.0 ± 5.0 |" in text  # seeds 1 and 3: 60 and 80
    assert "- ua by seed: 60.0 (1), 80.0 (3)" in text
    assert text.rstrip().endswith("Failed, not in the figures above: attention seed 2.")
    record = json.loads((tmp_path / "learning.json").read_text())
    assert record["failed"] == ["attention seed 2"]
    assert set(record["heldout_test_by_seed"]["attention"]) == {"1", "3"}  # JSON's keys are text


def test_a_run_stopped_part_way_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    """A run folder with ``checkpoints/last.ckpt`` and no ``metrics.json`` (the benchmark was killed) is
    continued from that checkpoint, its log appended to; a run with no checkpoint starts afresh; a finished
    run is not started again."""
    import json

    calls = []

    def run_module(module, args, threads=None, log=None):
        calls.append(args)
        log.write("second part\n")
        run_dir = learning.run_dir_of("attention", int(args[1].split("=")[1]), tmp_path)
        (run_dir / "metrics.json").write_text(json.dumps({"val/ua": 0.5}))

    monkeypatch.setattr(learning, "run_module", run_module)
    stopped = learning.run_dir_of("attention", 1, tmp_path)
    (stopped / "checkpoints").mkdir(parents=True)
    (stopped / "checkpoints" / "last.ckpt").write_bytes(b"")
    stopped.with_suffix(".log").write_text("first part\n")
    learning.run_dir_of("attention", 2, tmp_path).mkdir()

    for seed in (1, 2, 1):
        assert learning.train_one("attention", seed, tmp_path, 1, ["trainer.max_epochs=50"]) == {
            "val/ua": 0.5
        }
    resumed, fresh = calls  # the third call found seed 1 finished
    assert (
        f"ckpt_path={stopped / 'checkpoints' / 'last.ckpt'}" in resumed and "trainer.max_epochs=50" in resumed
    )
    assert not any(a.startswith("ckpt_path=") for a in fresh)
    assert stopped.with_suffix(".log").read_text() == "first part\nsecond part\n"
