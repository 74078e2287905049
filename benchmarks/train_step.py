"""Training and inference throughput of both models at the paper's shapes (samples per second).

Each model runs as: the plain reference path (conv -> ReLU -> pool, NCHW, float32, eager), and the fast
default path in float32 / bfloat16 autocast, eager / ``torch.compile``. Every figure is also given as a
ratio to the reference of the same model measured in the same run. A step's time is the fastest of
``--steps`` timed steps after ``--warmup`` untimed ones (which include compilation): on a machine shared
with other work the fastest step is the one least disturbed by it.

    python benchmarks/train_step.py                       # quick default on the CPU
    python benchmarks/train_step.py --device cuda --steps 20 --warmup 5
    python benchmarks/train_step.py --profile             # top ops of one step, fast vs reference
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mosei_attn.models import AttentionNet, ShallowNet

SPEC_SHAPE, TEXT_SHAPE, NUM_CLASSES = (200, 400), (40, 300), 6  # the paper's inputs and six emotions
NETS = {"attention": AttentionNet, "shallow": ShallowNet}
LR = 1e-3  # the paper's SGD learning rate


def make_batch(batch: int, device: torch.device) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Random inputs of the paper's shapes, with some padding so the masks do real work."""
    (n_freq, n_time), (n_words, dim) = SPEC_SHAPE, TEXT_SHAPE
    spec_len = torch.randint(n_time // 2, n_time + 1, (batch,), device=device)
    word_len = torch.randint(1, n_words + 1, (batch,), device=device)
    inputs = (
        torch.rand(batch, 1, n_freq, n_time, device=device),
        spec_len,
        torch.randn(batch, n_words, dim, device=device),
        word_len,
    )
    return inputs, torch.randint(0, NUM_CLASSES, (batch,), device=device)


def step_fn(
    net: nn.Module,
    run: nn.Module | Callable,
    train: bool,
    dtype: torch.dtype | None,
    inputs: tuple[torch.Tensor, ...],
    target: torch.Tensor,
) -> Callable[[], None]:
    """One training step (forward, loss, backward, SGD update) or one inference forward."""
    device = inputs[0].device
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    net.train(train)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            if not train:
                with torch.no_grad():
                    run(*inputs)
                return
            loss = F.cross_entropy(run(*inputs)[0].float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def best_step_s(step: Callable[[], None], steps: int, warmup: int, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def profile(nets: dict[str, nn.Module], inputs: tuple[torch.Tensor, ...], target: torch.Tensor) -> None:
    from torch.profiler import ProfilerActivity, profile

    for name, net in nets.items():
        step = step_fn(net, net, True, None, inputs, target)
        step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        print(f"\n== one training step, {name} ==")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per figure (the fastest counts)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed steps first (compilation happens here)"
    )
    parser.add_argument("--models", default="attention,shallow", help="comma-separated: attention, shallow")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--profile", action="store_true", help="profile one step of each path instead")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"torch {torch.__version__} | device {name} | threads {torch.get_num_threads()} | batch {args.batch}"
        f" | best of {args.steps} steps after {args.warmup} warmup"
    )
    inputs, target = make_batch(args.batch, device)
    rows = []
    for model in args.models.split(","):
        torch.manual_seed(0)
        fast = NETS[model](SPEC_SHAPE, TEXT_SHAPE, NUM_CLASSES).to(device)
        ref = NETS[model](SPEC_SHAPE, TEXT_SHAPE, NUM_CLASSES, reference=True).to(device)
        ref.load_state_dict(fast.state_dict())  # identical parameters, so identical outputs
        if args.profile:
            profile({f"{model} fast": fast, f"{model} reference": ref}, inputs, target)
            continue
        variants = [("reference", None, False), ("fast", None, False), ("fast", torch.bfloat16, False)]
        if not args.no_compile:
            variants += [("fast", None, True), ("fast", torch.bfloat16, True)]
        base: dict[bool, float] = {}
        for path, dtype, compiled in variants:
            label = f"{model:<9} {path:<9} {'bf16' if dtype else 'fp32':<4} {'compile' if compiled else 'eager':<7}"
            figures = []
            for train in (True, False):
                net = copy.deepcopy(
                    ref if path == "reference" else fast
                )  # each run starts from the same weights
                try:
                    run = torch.compile(net) if compiled else net
                    t = best_step_s(
                        step_fn(net, run, train, dtype, inputs, target), args.steps, args.warmup, device
                    )
                except Exception as err:  # a compiler failure must not end the benchmark
                    figures.append(f"skipped: {type(err).__name__}: {str(err).splitlines()[0][:60]}")
                    continue
                rate = args.batch / t
                base.setdefault(train, rate)  # the reference comes first
                figures.append(f"{rate:9.1f} ({rate / base[train]:4.2f}x)")
            rows.append(f"{label}  " + "  ".join(f"{f:<18}" for f in figures))
            print(rows[-1], flush=True)
    if rows:
        print(f"\n{'model':<9} {'path':<9} {'dt':<4} {'mode':<7}  {'train samples/s':<18}  infer samples/s")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
