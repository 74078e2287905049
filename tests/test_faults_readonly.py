"""Fault injection on the read-only commands: ``evaluate`` checks what the checkpoint records (emotions, label
rule, shapes) against the data asked for before any corpus or cache is built, and never replaces a synthetic
corpus written with other parameters (another run may be reading it); each is one ``error:`` line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mosei_attn.synthetic import write_synthetic_corpus
from mosei_attn.train import train
from tests.cli_here import run_here
from tests.conftest import TINY, compose_config
from tests.test_manifest_train import DIM, write_folder

#: debug=tiny_shapes's data settings, as evaluate takes them (it has no debug group).
TINY_DATA = [
    "data.audio.n_fft=64",
    "data.audio.win_length=64",
    "data.audio.hop_length=64",
    "data.audio.freq_bins=16",
    "data.audio.max_frames=64",
    "data.text.max_words=8",
]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` with its size and modification time (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def one_error_line(proc) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = [s for s in proc.stderr.splitlines() if s.strip()][-1]
    assert line.startswith("error: "), proc.stderr[-3000:]
    return line


@pytest.fixture(scope="module")
def corpus16(tmp_path_factory) -> Path:
    """A data folder holding a 16-video synthetic corpus of MOSEI's six emotions (no cache)."""
    data = tmp_path_factory.mktemp("data16")
    write_synthetic_corpus(data / "synthetic", n_videos=16, workers=1)
    return data


def test_evaluate_of_a_two_emotion_checkpoint_on_a_six_emotion_corpus_touches_nothing(
    data_dir, tmp_path, corpus16, monkeypatch, capfd
):
    manifest, glove, _ = write_folder(tmp_path)
    tiny = [o for o in TINY if not o.startswith("data.write_corpus.")]
    manifest_data = ["data=manifest", f"data.corpus.manifest={manifest}", f"data.word_vectors.path={glove}"]
    overrides = [*tiny, f"paths.data_dir={data_dir}", *manifest_data, f"data.text.dim={DIM}"]
    cfg = compose_config(
        "train", [*overrides, "data.corpus.emotions=[happy,sad]", "test=false"], tmp_path / "run"
    )
    train(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = snapshot(corpus16)
    # 12 videos asked (the default asks for 600, which the old code wrote over the 16: the same mechanism)
    args = ["data=synthetic", "data.write_corpus.n_videos=12", f"paths.data_dir={corpus16}"]
    proc = run_here("mosei_attn.evaluate", f"ckpt_path={ckpt}", *args, monkeypatch=monkeypatch, capfd=capfd)
    line = one_error_line(proc)
    assert "emotion_names=('happy', 'sad')" in line and "leave out data=" in line
    assert snapshot(corpus16) == before
    assert not list((tmp_path / "run").glob("evaluate_*"))  # no output folder left for the refusal


def test_evaluate_does_not_replace_a_corpus_written_with_other_parameters(
    train_cfg, tmp_path, corpus16, monkeypatch, capfd
):
    cfg = train_cfg("test=false", "model=shallow")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    before = snapshot(corpus16)
    # the data config evaluate is given asks for another corpus than the folder's (12 videos, not 16)
    args = ["data=synthetic", "data.write_corpus.n_videos=12", *TINY_DATA, f"paths.data_dir={corpus16}"]
    proc = run_here("mosei_attn.evaluate", f"ckpt_path={ckpt}", *args, monkeypatch=monkeypatch, capfd=capfd)
    line = one_error_line(proc)
    assert "n_videos: 16 there, 12 asked" in line and "data.write_corpus.n_videos=16" in line
    assert snapshot(corpus16) == before
