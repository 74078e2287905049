"""Training and inference step time of both models at the paper's shapes, each side in its own fresh process.

Sides, for each model and for a training step (forward, cross entropy, backward, SGD update) and an inference
forward (no grad), batch 32 by default:

- ``plain``: a plain eager build of the same layers (``tests/reference_models.py``: conv -> ReLU -> pool
  on NCHW tensors) with glibc's default malloc (``MOSEI_ATTN_MALLOC=0``): the baseline every ratio is against.
- ``fast, default malloc``: the project's default path, but with glibc's default malloc, to show what
  keeping freed memory (:mod:`mosei_attn.malloc`) gives on its own.
- ``fast``: the project as its entry points run it (:func:`mosei_attn.process.process_setup` first).
- ``fast, own code``: the same network in a user's own code (a notebook, their own loop): no
  ``process_setup``; the network sets the process's malloc on its first forward.
- ``fast bf16`` (``--bf16``): the default path under bfloat16 autocast.

Every side runs in a fresh subprocess, so no process-wide setting (malloc, threads) leaks from one side to
another. A figure is the median of ``--steps`` timed steps after ``--warmup`` untimed ones. Ratios are
``plain / side`` measured in the same command: on a shared machine compare ratios, not seconds. The last
line printed is one JSON object with the figures.

    python benchmarks/train_step.py            # both models, 5 timed steps per figure (a few minutes)
    python benchmarks/train_step.py --quick    # 2 timed steps after 1 warmup
    python benchmarks/train_step.py --against 1c09a6d   # then the script at that commit, and the ratios
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from against import against  # benchmarks/against.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
SIDES = {  # name: (reference path, environment, autocast bf16, process_setup first, suffix of its JSON keys)
    "plain": (True, {"MOSEI_ATTN_MALLOC": "0"}, False, True, "_plain"),
    "fast, default malloc": (False, {"MOSEI_ATTN_MALLOC": "0"}, False, True, "_default_malloc"),
    "fast": (False, {}, False, True, ""),
    "fast, own code": (False, {}, False, False, "_own_code"),
    "fast bf16": (False, {}, True, True, "_bf16"),
}
MODES = ("train", "infer")


def paper_shapes() -> tuple[tuple[int, int], tuple[int, int], int]:
    """(F, T) spectrogram, (L, D) words and the class count: the feature settings' defaults (the paper's) and
    the label columns."""
    from mosei_attn.data.corpora.labels import EMOTIONS
    from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures

    audio, text = AudioFeatures(), TextFeatures()
    return (audio.freq_bins, audio.max_frames), (text.max_words, text.dim), len(EMOTIONS)


def child(model: str, side: str, mode: str, batch: int, steps: int, warmup: int) -> dict:
    """Time one side in this process; returns its median step and per-step kernel time and page faults."""
    import torch
    import torch.nn.functional as F

    from mosei_attn.models import AttentionNet, ShallowNet
    from mosei_attn.process import process_setup

    reference, _, bf16, setup, _ = SIDES[side]
    if setup:
        process_setup()  # as the entry points: keep freed memory unless MOSEI_ATTN_MALLOC=0
    spec_shape, text_shape, num_classes = paper_shapes()
    torch.manual_seed(0)
    nets = {"attention": AttentionNet, "shallow": ShallowNet}
    net = nets[model](spec_shape, text_shape, num_classes, mask_padding=True)  # the default run's masks
    if reference:
        sys.path.insert(0, str(ROOT))  # the repository: its tests' reference blocks
        from tests.reference_models import to_reference

        net = to_reference(net)
    (n_freq, n_time), (n_words, dim) = spec_shape, text_shape
    spec_len = torch.randint(n_time // 2, n_time + 1, (batch,))  # some padding, so the masks do real work
    inputs = (torch.rand(batch, 1, n_freq, n_time), spec_len, torch.randn(batch, n_words, dim))
    inputs += (torch.randint(1, n_words + 1, (batch,)),)
    target = torch.randint(0, num_classes, (batch,))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)  # the paper's optimizer and learning rate
    net.train(mode == "train")

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if mode == "infer":
                with torch.no_grad():
                    net(*inputs)
                return
            loss = F.cross_entropy(net(*inputs).logits.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    before, times = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "step_s": statistics.median(times),
        "step_min_s": min(times),  # the spread of the timed steps
        "step_max_s": max(times),
        "user_s": (after.ru_utime - before.ru_utime) / steps,
        "sys_s": (after.ru_stime - before.ru_stime) / steps,
        "minflt": (after.ru_minflt - before.ru_minflt) / steps,
        "threads": torch.get_num_threads(),
    }


def run_side(model: str, side: str, mode: str, args: argparse.Namespace) -> dict:
    """Run :func:`child` in a fresh interpreter with the side's environment; its last stdout line is JSON."""
    env = {**os.environ, **SIDES[side][1], "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--child", model, side, mode]
    cmd += ["--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{model} / {side} / {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per figure (the median counts)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--models", default="attention,shallow", help="comma-separated: attention, shallow")
    parser.add_argument("--bf16", action="store_true", help="add the bfloat16 autocast side")
    parser.add_argument("--quick", action="store_true", help="2 timed steps after 1 warmup")
    parser.add_argument("--against", metavar="COMMIT", help="also this script at COMMIT, and the ratios")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "SIDE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup = 2, 1
    if args.child:
        print(json.dumps(child(*args.child, args.batch, args.steps, args.warmup)))
        return
    sides = [s for s in SIDES if args.bf16 or "bf16" not in s]
    load = os.getloadavg()[0]
    print(f"batch {args.batch} | median of {args.steps} steps after {args.warmup} warmup | load {load:.1f}")
    print(
        f"{'model':<9} {'side':<21} {'mode':<5} {'step s':>7} {'ratio':>6} {'user s':>7} {'sys s':>6} "
        f"{'faults':>8} {'min-max s':>13}"
    )
    figures: dict[str, float] = {}
    for model in args.models.split(","):
        for mode in MODES:
            plain = None
            for side in sides:
                r = run_side(model, side, mode, args)
                plain = plain or r["step_s"]
                ratio = plain / r["step_s"]
                print(
                    f"{model:<9} {side:<21} {mode:<5} {r['step_s']:7.3f} {ratio:5.2f}x {r['user_s']:7.2f} "
                    f"{r['sys_s']:6.2f} {r['minflt']:8.0f} {r['step_min_s']:6.3f}-{r['step_max_s']:.3f}",
                    flush=True,
                )
                key = f"{model}_{mode}{SIDES[side][-1]}"
                figures |= {f"{key}_s": round(r["step_s"], 3), f"{key}_minflt": round(r["minflt"])}
                figures |= {f"{key}_sys_s": round(r["sys_s"], 3)}
                figures |= {f"{key}_{end}_s": round(r[f"step_{end}_s"], 3) for end in ("min", "max")}
                figures |= {f"{key}_x": round(ratio, 2)} if side != "plain" else {}
    figures |= {
        "batch": args.batch,
        "threads": r["threads"],
        "load_start": load,
        "load_end": os.getloadavg()[0],
    }
    figures["against"] = against(args.against, "benchmarks/train_step.py", figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
