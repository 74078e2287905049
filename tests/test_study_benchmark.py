"""benchmarks/study.py at tiny shapes on the CPU with two concurrent jobs: its FLOP count against torch's own
counter on the tiny model built here, its MFU and projections against those counts and its rates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mosei_attn.data.meta import DataMeta
from mosei_attn.training.build import build_model
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parent.parent


def tiny_step_flops(batch: int, tmp_path: Path) -> int:
    """FLOPs (matrix products and convolutions) of one forward and backward of the ``debug=tiny_shapes``
    attention model on ``batch`` segments, counted by torch on a model built from the composed config."""
    cfg = compose_config("train", ["debug=tiny_shapes", "model=attention"], tmp_path / "cfg")
    (F, T), (L, D) = (
        (cfg.data.audio.freq_bins, cfg.data.audio.max_frames),
        (cfg.data.text.max_words, cfg.data.text.dim),
    )
    meta = DataMeta(("a", "b", "c", "d", "e", "f"), "argmax", (F, T), (L, D), class_counts=(1,) * 6)
    model = build_model(cfg, meta.to_dict()).train()
    gen = torch.Generator().manual_seed(0)
    inputs = {
        "spec": torch.rand(batch, 1, F, T, generator=gen),
        "spec_len": torch.full((batch,), T),
        "words": torch.randn(batch, L, D, generator=gen),
        "word_len": torch.full((batch,), L),
        "speech": torch.ones(batch, T, dtype=torch.bool),
    }
    with FlopCounterMode(display=False) as counter:
        model.loss(model(inputs).logits, torch.arange(batch) % 6).backward()
    return counter.get_total_flops()


@pytest.mark.slow  # the benchmark's two jobs, each a process of its own
def test_study_benchmark_two_jobs_tiny_cpu(tmp_path: Path) -> None:
    options = (
        "--tiny --device cpu --jobs 2 --batch 4 --steps 2 --warmup 1 --workers 0 --peak-tflops 1".split()
    )
    study = "--models 3 --seeds 2 --epochs 7 --train-segments 1000 --val-segments 300".split()
    cmd = [sys.executable, str(ROOT / "benchmarks/study.py"), *options, *study, "--workdir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["device"] == "cpu" and result["batch"] == 4 and result["tiny"] is True
    assert result["study"] == {"models": 3, "seeds": 2, "epochs": 7, "train": 1000, "val": 300}
    (r,) = result["results"]
    jobs = r["per_job"]
    assert r["n_jobs"] == 2 and sorted(j["job"] for j in jobs) == [0, 1]
    flops = tiny_step_flops(4, tmp_path)
    for j in jobs:
        assert j["batch"] == 4 and j["samples_per_s"] > 0 and 0 <= j["data_wait"] <= 1
        assert abs(j["samples_per_s"] * j["step_ms"] / 1000 - 4) < 1e-6 * 4
        assert j["flops_per_step"] == flops and j["peak_gib"] is None  # CPU: no device memory
        # achieved FLOP/s (one step's FLOPs at its steps per second) over the given peak, 1 TFLOP/s
        assert abs(j["mfu"] - flops * j["samples_per_s"] / 4 / 1e12) < 1e-9 * j["mfu"]
    rate = jobs[0]["samples_per_s"] + jobs[1]["samples_per_s"]
    assert abs(r["aggregate_samples_per_s"] - rate) < 1e-9 * rate
    assert abs(r["aggregate_mfu"] - (jobs[0]["mfu"] + jobs[1]["mfu"])) < 1e-12
    assert abs(r["data_wait_mean"] - (jobs[0]["data_wait"] + jobs[1]["data_wait"]) / 2) < 1e-12
    # 3 models x 2 seeds x 7 epochs of 1000 training samples, and 300 validation ones at a third of the cost
    work = 3 * 2 * 7 * (1000 + 300 / 3)
    assert (
        abs(r["study_samples"] - work) < 1e-6
        and abs(r["projected_study_s"] - work / rate) < 1e-6 * work / rate
    )
    assert result["best_n_jobs"] == 2 and result["best_projected_study_s"] == r["projected_study_s"]
    assert len(list((tmp_path / "cache").glob("*.h5"))) == 1  # the jobs shared the one cache
