"""Fault injection on the command line: each mistake a user makes in what they give (a data file, a data
folder, a setting, a split, predict's inputs, aggregate's folder) ends in one ``error:`` line naming it and
saying what to do, a non-zero exit status and no traceback; nothing is written for it. Each command runs
in the test process (:mod:`tests.cli_here`); tests/test_faults_cli.py runs the same kind of mistake as a
real subprocess."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mosei_attn.data.corpora.csd import write_csd
from mosei_attn.data.corpora.mosei_layout import LABELS_FILE, VECTORS_FILE, WORDS_FILE
from tests.cli_here import run_here
from tests.conftest import TINY
from tests.test_faults_readonly import one_error_line

CSDS = (LABELS_FILE, VECTORS_FILE, WORDS_FILE)


@pytest.fixture
def run(monkeypatch, capfd):
    """``run(module, *args)``: the command line run in this process, as a finished process."""
    return lambda module, *args: run_here(module, *args, monkeypatch=monkeypatch, capfd=capfd)


def mosei_folder(root: Path, fault: str) -> Path:
    """A MOSEI-layout folder whose labels file has ``fault``: html, truncated, missing."""
    root.mkdir()
    for name in CSDS[1:]:
        (root / name).write_bytes(b"<!DOCTYPE html><html>Sign in to continue</html>")
    labels = root / LABELS_FILE
    if fault == "html":
        labels.write_bytes(b"<!DOCTYPE html><html>Sign in to continue</html>")
    elif fault == "truncated":
        write_csd(labels, "All Labels", {"v1": (np.zeros((4, 7), np.float32), np.zeros((4, 2)))})
        labels.write_bytes(labels.read_bytes()[: labels.stat().st_size // 2])
    return root


@pytest.mark.parametrize(
    "fault, expect",
    [
        ("html", "not a readable HDF5 file"),
        ("truncated", "not a readable HDF5 file"),
        ("missing", "is missing"),
        ("no folder", "nowhere does not exist: give data.root the folder"),
        ("no root", "data.root not set"),
        ("unwritable", "cannot create the lock file"),
    ],
)
def test_a_bad_data_file_or_folder_is_one_line(run, tmp_path, fault, expect):
    if fault == "no root":
        args = ["data=mosei"]
    elif fault == "no folder":
        args = ["data=mosei", f"data.root={tmp_path / 'nowhere'}"]
    elif fault == "unwritable":  # a data folder that cannot be written (tests run as root: not by chmod)
        (tmp_path / "file").write_text("")
        args = [
            "+debug=tiny_shapes",
            "data.write_corpus.n_videos=16",
            f"paths.data_dir={tmp_path / 'file' / 'data'}",
        ]
    else:
        args = ["data=mosei", f"data.root={mosei_folder(tmp_path / 'mosei', fault)}"]
    proc = run("mosei_attn.prepare", *args, f"paths.log_dir={tmp_path / 'logs'}")
    assert expect in one_error_line(proc)
    assert list((tmp_path / "logs").rglob("*.log")) == []  # no log folder left for the refused command


@pytest.mark.parametrize(
    "setting, expect",
    [
        ("seed=abc", "seed=abc: give a whole number"),
        ("data.batch_size=0", "data.batch_size=0: give a whole number of at least 1"),
        ("data.num_workers=-1", "data.num_workers=-1: give a whole number of at least 0"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0: give a whole number of at least 1"),
    ],
)
def test_a_bad_setting_is_one_line_before_the_data_is_prepared(run, tmp_path, setting, expect):
    data = tmp_path / "data"
    proc = run(
        "mosei_attn.train", *TINY, f"paths.data_dir={data}", f"hydra.run.dir={tmp_path / 'run'}", setting
    )
    assert expect in one_error_line(proc)
    assert not data.exists()
    assert not (tmp_path / "run").exists()  # no run folder left holding only Hydra's record and log


@pytest.fixture
def fake_ckpt(tmp_path) -> Path:
    """A file that passes the command line's checkpoint check (a zip archive's first bytes)."""
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"PK\x03\x04" + bytes(100))
    return ckpt


@pytest.mark.parametrize("split, expect", [("valid", "split=val"), ("bogus", "split=train, val or test")])
def test_evaluate_of_a_split_that_is_none_is_one_line_and_writes_nothing(run, fake_ckpt, split, expect):
    proc = run("mosei_attn.evaluate", f"ckpt_path={fake_ckpt}", f"split={split}")
    assert expect in one_error_line(proc)
    assert sorted(p.name for p in fake_ckpt.parent.parent.iterdir()) == ["checkpoints"]


@pytest.mark.parametrize(
    "args, expect",
    [
        (["text=hello"], "give audio=clip.wav"),
        (["AUDIO"], "give the transcript"),
        (["AUDIO", "text=hi", "end=abc"], "end=abc: not a number of seconds"),
        (["AUDIO", "text=hi", "device=gpu"], "device=gpu: not a device"),
        (["AUDIO", "text=hi", "device=cuda"], "device=cuda: no CUDA device"),
    ],
)
def test_predict_asked_wrongly_is_one_line(run, fake_ckpt, tmp_path, args, expect):
    import torch

    if "device=cuda" in args and torch.cuda.is_available():
        pytest.skip("CUDA is usable here: device=cuda is no mistake")
    wav = tmp_path / "clip.wav"
    sf.write(wav, np.zeros(16_000, np.float32), 16_000)
    args = [f"audio={wav}" if a == "AUDIO" else a for a in args]
    proc = run("mosei_attn.predict", f"ckpt_path={fake_ckpt}", *args, f"paths.log_dir={tmp_path / 'logs'}")
    assert expect in one_error_line(proc)
    assert list((tmp_path / "logs").rglob("*")) in ([], [tmp_path / "logs" / "predict"])  # no run folder


@pytest.mark.parametrize("folder", ["empty", "missing"])
def test_aggregate_of_a_folder_without_jobs_is_one_line(run, tmp_path, folder):
    target = tmp_path / "sweep"
    if folder == "empty":
        target.mkdir()
    proc = run("mosei_attn.aggregate", str(target))
    assert str(target) in one_error_line(proc)


def job(sweep: Path, n: int, metrics: str | None) -> None:
    folder = sweep / str(n)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(f"- seed={n}\n- model=shallow\n")
    if metrics is not None:
        (folder / "metrics.json").write_text(metrics)


def test_aggregate_keeps_good_jobs_beside_wrong_shaped_or_nan_metrics(run, tmp_path):
    sweep = tmp_path / "sweep"
    job(sweep, 0, json.dumps({"val/wa": 0.5, "val/ua": 0.4}))
    job(sweep, 1, json.dumps({"val/wa": 0.7, "val/ua": 0.6}))
    job(sweep, 2, '{"val/wa": NaN, "val/ua": "abc"}')
    job(sweep, 3, "[1, 2]")
    job(sweep, 4, "null")
    proc = run("mosei_attn.aggregate", str(sweep), "--metrics", "val/wa", "val/ua")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (row,) = csv.DictReader(io.StringIO((sweep / "aggregate.csv").read_text()))
    # the two good jobs' mean, not blanked by job 2's NaN
    assert (float(row["val/wa_mean"]), row["val/wa_n"]) == (pytest.approx(0.6), "2")
    md = (sweep / "aggregate.md").read_text()
    assert "metrics.json holds [1, 2], not an object of metrics" in md
    assert "metrics.json holds null, not an object of metrics" in md
    # job 2 finished, so it counts in n; each value it gives that no mean includes is named, in the file and
    # on the terminal, and the cells say over how many runs their mean is
    assert row["n"] == "3" and row["missing"] == "2"
    job2 = sweep / "2"
    left_out = [f"{job2}: val/wa is NaN", f'{job2}: val/ua is "abc"']
    for line in left_out:
        line += ", not a finite number"
        assert f"- left out: {line}" in md and line in " ".join(proc.stdout.split())
    assert "60.00 ± 14.14 (n=2)" in md and "50.00 ± 14.14 (n=2)" in md
