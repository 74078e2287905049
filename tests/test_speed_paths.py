"""Speed paths: glibc keeps freed memory (and the opt-out works); the per-block length mask of SpeechCNN."""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mosei_attn.malloc import OPT_OUT_VAR, opted_out
from mosei_attn.models.blocks import SpeechCNN
from tests.reference_models import to_reference

ROOT = Path(__file__).resolve().parent.parent

# A fresh interpreter imports the package (whether that changed the warning filters: the dependencies set
# filters of their own on import, which are not ours), sets up the process (as an entry point does, or by a
# network's first forward in a user's own code) and runs a small step a few times (max pool forward and
# backward on a 128 MiB activation: the buffers a training step frees and allocates again); it prints whether
# the setting was in force after the imports and after the setup, and the minor page faults of the last
# rounds (argv[3]), after the heap has grown in the first ones (argv[2]) as in a training run's first steps.
FAULTS = """
import json, resource, sys, warnings
before = list(warnings.filters)
import mosei_attn
filters_same = list(warnings.filters) == before
import hydra, lightning, matplotlib, torch, torch.nn.functional as F
before = list(warnings.filters)
import mosei_attn.malloc as m, mosei_attn.train
from mosei_attn.models import AttentionNet, ShallowNet
from mosei_attn.process import process_setup
filters_same = filters_same and list(warnings.filters) == before
nets = [AttentionNet((16, 40), (6, 8), 6, kernels=4, attn_dim=8), ShallowNet((16, 40), (6, 8), 6, kernels=4)]
at_import = m._applied
if sys.argv[1] == "entry point":
    process_setup()  # as every entry point does first
else:  # a user's own loop: no setup, only the networks' forward
    for net in nets:
        net(torch.rand(2, 1, 16, 40), torch.tensor([40, 20]), torch.rand(2, 6, 8), torch.tensor([6, 3]))
x = torch.rand(8, 16, 512, 512, requires_grad=True)
def step():
    F.max_pool2d(x * 2.0, 2).sum().backward()
    x.grad = None
for _ in range(int(sys.argv[2])):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(int(sys.argv[3])):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
seen = {"filters_same": filters_same, "at_import": at_import, "applied": m._applied}
print(json.dumps({**seen, "faults": faults}))
"""


#: Rounds of the step before the faults are counted (the heap grows in them), and rounds counted.
WARM_UP, ROUNDS = 3, 2


@functools.cache
def _faults(setup: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k != OPT_OUT_VAR and not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", FAULTS, setup, str(WARM_UP), str(ROUNDS)],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _opted_out() -> dict:
    """glibc's own behaviour: the first forward with the opt-out set (the setup then sets nothing either)."""
    return _faults("first forward", **{OPT_OUT_VAR: "0"})


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the malloc settings are glibc's")
@pytest.mark.parametrize("setup", ["entry point", "first forward"])
def test_freed_memory_is_kept_from_the_setup_or_first_forward_unless_opted_out(setup: str) -> None:
    kept = _faults(setup)
    default = _opted_out()
    assert kept["at_import"] is None and default["at_import"] is None  # importing and building set nothing
    assert kept["applied"] is True and default["applied"] is False
    # glibc's default unmaps every large buffer when freed, so each round faults all its pages in again (at
    # least 3 buffers of 128 MiB a round); kept, the buffers are reused.
    assert default["faults"] > ROUNDS * 3 * 2**27 // 4096, default
    assert kept["faults"] < default["faults"] // 2, (kept, default)


def test_opt_out_by_variable_or_glibc_settings() -> None:
    assert not opted_out({})
    assert not opted_out({OPT_OUT_VAR: "1"})
    assert opted_out({OPT_OUT_VAR: "0"}) and opted_out({OPT_OUT_VAR: " Off "})
    assert opted_out({"MALLOC_TRIM_THRESHOLD_": "0"})  # the user's own glibc settings win
    assert opted_out({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})


def _pair(**sizes: int) -> tuple[SpeechCNN, SpeechCNN]:
    fast = SpeechCNN(**sizes)
    ref = to_reference(SpeechCNN(**sizes))
    ref.load_state_dict(fast.state_dict())
    return fast, ref


@pytest.mark.parametrize("lengths", [None, [37, 64, 1, 50]])
def test_speech_cnn_fast_path_matches_reference_with_and_without_lengths(lengths: list[int] | None) -> None:
    torch.manual_seed(0)
    fast, ref = _pair(kernels=8, blocks=3)
    lens = None if lengths is None else torch.tensor(lengths)
    x = torch.randn(4, 1, 24, 64)
    xf, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_f, out_r = fast(xf, lens), ref(xr, lens)
    grad = torch.randn_like(out_r)
    (out_f * grad).sum().backward()
    (out_r * grad).sum().backward()
    assert torch.allclose(out_f, out_r, atol=1e-5)
    assert torch.allclose(xf.grad, xr.grad, atol=1e-5)
    for p, q in zip(fast.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-4)


def test_speech_cnn_zeroes_time_past_each_pooled_length() -> None:
    """Past each length the features are exactly the response to silence: 0, as they are relative to it."""
    torch.manual_seed(0)
    fast, ref = _pair(kernels=4, blocks=3)
    x = torch.rand(4, 1, 16, 64) + 1.0  # positive input: without the mask every position is filled
    lengths = torch.tensor([37, 64, 1, 57])
    real = [5, 8, 1, 8]  # ceil(length / 2^3), at most 64 / 2^3
    for net in (fast, ref):
        out = net(x, lengths)  # (4, 4, 2, 8)
        for b, n in enumerate(real):
            assert (out[b, :, :, n:] == 0).all()
        # A full-length sample is the same in any batch: only the others' padding changes.
        assert torch.allclose(net(x[1:2], lengths[1:2]), out[1:2], atol=1e-6)
    # The mask acts after every block, not only the last: frames from 40 on reach block 1's output only at
    # pooled positions >= 19 = ceil(37 / 2), which the first mask zeroes, so what they hold cannot matter.
    padded = x.clone()
    padded[0, ..., 40:] = 1e3
    for net in (fast, ref):
        assert torch.allclose(net(padded, lengths)[0], net(x, lengths)[0])


def test_importing_the_package_changes_neither_warning_filters_nor_malloc() -> None:
    """A library a user imports into their own code leaves their process as it was (read from the fresh
    interpreter of the first-forward case, which imports the package, its models and its entry point)."""
    imported = _faults("first forward")
    assert imported["filters_same"] is True and imported["at_import"] is None
