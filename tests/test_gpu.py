"""On a CUDA device: both models give the CPU's outputs, and the main job trains in bf16 and evaluates back.

Marked ``gpu`` (deselected by default): ``pytest -m gpu`` on a machine with a CUDA device.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
import torch

from mosei_attn.models import AttentionModule
from mosei_attn.train import train
from tests.conftest import TINY, compose_config, evaluate_checkpoint
from tests.test_models import MODELS, SGD, make_batch, tiny_meta

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),  # -m gpu without one
]
CUDA = torch.device("cuda")


@pytest.fixture
def no_tf32() -> Iterator[None]:
    """fp32 means fp32 on the device (no TensorFloat-32 products) for the test; the settings restored
    after."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


@pytest.mark.parametrize("cls", MODELS)
def test_cuda_gives_the_cpu_outputs(cls: type, no_tf32: None) -> None:
    """fp32 on the device: the CPU's logits, attention and gradients; bf16 autocast: close to them, and the
    padding stays invisible (a padded sample's outputs do not depend on what the padding holds)."""
    torch.manual_seed(0)
    cpu = cls(tiny_meta(), SGD, kernels=8, dense=[32, 16]).eval()
    gpu = cls(tiny_meta(), SGD, kernels=8, dense=[32, 16]).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to(CUDA)
    batch = make_batch(cpu.meta, [32, 13, 1, 20], [8, 3, 0, 5])
    on_gpu = {k: v.to(CUDA) for k, v in batch.items()}

    outs = []
    for model, b in ((cpu, batch), (gpu, on_gpu)):
        out = model(b)
        logits, attn = out.logits, out.attention
        logits.square().sum().backward()
        outs.append((logits.detach().cpu(), None if attn is None else attn.detach().cpu(), model))
    (l1, a1, m1), (l2, a2, m2) = outs
    assert torch.allclose(l1, l2, atol=1e-4, rtol=1e-4)
    assert (a1 is None) == (cls is not AttentionModule)
    if a1 is not None:
        assert torch.allclose(a1, a2, atol=1e-5)
    for (name, p1), p2 in zip(m1.named_parameters(), m2.parameters(), strict=True):
        assert torch.allclose(p1.grad, p2.grad.cpu(), atol=1e-4, rtol=1e-3), name

    noisy = {k: v.clone() for k, v in on_gpu.items()}
    noisy["spec"][1, ..., 13:] = 5.0
    noisy["words"][1, 3:] = torch.randn_like(noisy["words"][1, 3:])
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        (b1, att1), (b2, att2) = gpu(on_gpu), gpu(noisy)
    assert torch.allclose(b1.float().cpu(), l1, atol=0.05 * l1.abs().max().item() + 1e-2)
    assert torch.equal(b1, b2)
    if att1 is not None:
        assert torch.equal(att1, att2)


def test_main_job_trains_in_bf16_on_the_gpu_and_evaluates_back(data_dir, tmp_path) -> None:
    """``trainer=gpu`` (bf16-mixed) on the tiny corpus: finite figures, a best checkpoint, and evaluate on
    that checkpoint (on the device) gives the run's test table again."""
    overrides = [o for o in TINY if not o.startswith("trainer.")] + [
        "trainer=gpu",
        "trainer.max_epochs=2",
        f"paths.data_dir={data_dir}",
    ]
    metrics, objects = train(compose_config("train", overrides, tmp_path / "run"))
    run = objects["output_dir"]
    assert objects["trainer"].precision == "bf16-mixed"
    assert objects["trainer"].strategy.root_device.type == "cuda"  # the model itself is back on the CPU
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("val/wa", "val/ua", "test/wa", "test/ua", "test/pointing"):
        assert math.isfinite(saved[key]), key
    best = saved["best_checkpoint"]
    again = evaluate_checkpoint(best, data_dir, tmp_path / "eval", "accelerator=gpu")
    assert again["precision"] == "bf16-mixed"
    assert again["test/confusion"] == saved["test/confusion"]
    assert again["test/ua"] == pytest.approx(saved["test/ua"], abs=1e-6)
