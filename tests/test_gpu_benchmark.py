"""benchmarks/gpu.py at tiny shapes on the CPU: the table, and a last JSON line with every figure."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # the benchmark in a process of its own, with a loader worker
def test_gpu_benchmark_tiny_cpu(tmp_path: Path) -> None:
    options = "--tiny --device cpu --batches 4 8 --steps 3 --warmup 1 --workers 1 --peak-tflops 1".split()
    cmd = [sys.executable, str(ROOT / "benchmarks/gpu.py"), *options, "--workdir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert any(line.split()[:2] == ["batch", "samples/s"] for line in lines)  # the table's header
    result = json.loads(lines[-1])
    assert result["device"] == "cpu" and result["precision"] == "bf16" and result["workers"] == 1
    assert result["spec_shape"] == [16, 64] and result["text_shape"] == [8, 300]  # debug=tiny_shapes
    assert [b["batch"] for b in result["batches"]] == [4, 8]
    assert result["base_batch"] == 4 and result["largest_batch"] == 8 and result["failed_batch"] is None
    for row in result["batches"]:
        for key in ("samples_per_s", "step_ms", "tflops", "mfu", "flops_per_step"):
            assert row[key] > 0, (key, row)
        assert 0 <= row["data_wait"] <= 1
        assert row["peak_gib"] is None  # CPU: no device memory to report
    # FLOPs counted per step grow with the batch (twice the samples: about twice the FLOPs)
    small, large = (b["flops_per_step"] for b in result["batches"])
    assert 1.9 < large / small < 2.1
    for tag in ("b32", "max"):
        assert result[f"samples_per_s_{tag}"] > 0 and result[f"mfu_{tag}"] > 0
        assert 0 <= result[f"data_wait_{tag}"] <= 1
    assert result["samples_per_s_max"] == result["batches"][-1]["samples_per_s"]
    assert isinstance(result["gpu_waits_on_data"], bool)
    assert (tmp_path / "corpus").is_dir()  # --workdir is kept


def test_batch_search_stops_at_the_first_out_of_memory(monkeypatch) -> None:
    """Batches 32, 64, ... until the device runs out of memory (faked here) or --max-batch."""
    from benchmarks import gpu

    def fake_measure(model, opt, dm, batch, args, device) -> dict:
        if batch >= 128:
            raise torch.OutOfMemoryError("fake") if args.max_batch > 64 else RuntimeError("too big\nmore")
        return dict(batch=batch, samples_per_s=1.0, step_ms=1.0, data_wait=0.0, mfu=None, peak_gib=None)

    monkeypatch.setattr(gpu, "measure", fake_measure)
    opt, cpu = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]), torch.device("cpu")
    rows, failed, why = gpu.sweep(None, opt, None, argparse.Namespace(batches=None, max_batch=2048), cpu)
    assert [r["batch"] for r in rows] == [32, 64] and (failed, why) == (128, "out of memory")
    rows, failed, why = gpu.sweep(None, opt, None, argparse.Namespace(batches=None, max_batch=64), cpu)
    assert [r["batch"] for r in rows] == [32, 64] and failed is None and why == "--max-batch 64"
    rows, failed, why = gpu.sweep(
        None, opt, None, argparse.Namespace(batches=[32, 128, 256], max_batch=8), cpu
    )
    assert [r["batch"] for r in rows] == [32] and (failed, why) == (128, "RuntimeError: too big")
