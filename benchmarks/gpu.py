"""Attention-model training throughput on a GPU at the paper's shapes, with the real loader in the loop.

    python benchmarks/gpu.py                   # H100 / H200: bf16, batch 32, 64, ... until out of memory
    python benchmarks/gpu.py --compile --workers 4 --max-batch 512
    python benchmarks/gpu.py --tiny --device cpu --batches 4 8 --steps 3 --warmup 1   # a CPU smoke run

A synthetic corpus of ``--videos`` videos (seed 1) is written into a work folder (temporary unless
``--workdir``), its feature cache built at the paper's shapes (``conf/data/audio/paper.yaml``, the loader's
word window; ``--tiny``: the shapes of ``debug=tiny_shapes``) and the training split read by the project's
loader (:class:`~mosei_attn.data.MoseiDataModule`'s dataset and collate, ``--workers`` processes, pinned
memory on CUDA). The sampler shuffles the split and goes on into further shuffles of it, so that a small
corpus feeds many large batches without the pause of an epoch's end. The model is
:class:`~mosei_attn.models.AttentionModule` as ``conf/model/attention.yaml`` builds it, with the default run's
optimizer (the ``optimizer`` choice of ``conf/train.yaml``).

A step, in a plain loop (no Trainer, to time it precisely): wait for the loader's next batch, copy it to the
device, forward under bfloat16 autocast (``--precision bf16``, the default), loss, backward, optimizer step
(the model's own, as the default optimizer and :meth:`configure_optimizers` build it, no schedule), then
synchronize with the device (so the loader's wait is time the device sits idle: an asynchronous loop may hide
some of it). ``--warmup`` untimed steps first, then ``--steps`` timed ones. Per batch size:

- ``samples_per_s``: samples trained per wall second over the timed steps; ``step_ms``: wall time per step.
- ``data_wait``: the fraction of that wall time spent waiting for the loader's next batch: the device sits
  idle for it. Near 0, the loader keeps up; ``gpu_waits_on_data`` is true when it exceeds 0.05 at batch 32
  or at the largest batch.
- ``mfu``: model FLOP utilisation, achieved FLOP/s over the device's peak. The FLOPs of one training step
  (forward and backward) are counted by ``torch.utils.flop_counter.FlopCounterMode`` on a real batch (matrix
  products and convolutions only, as is usual for MFU). Peak: ``--peak-tflops``, else the dense bf16
  tensor-core peak looked up by device name (H100 SXM and H200: 989 TFLOP/s); unknown devices get null.
- ``peak_gib``: ``torch.cuda.max_memory_allocated`` over the batch size's steps (null on CPU).

Batch sizes: 32 and doubling (64, 128, ...) until one fails (out of memory, or another error: kept as
``stop_reason``) or ``--max-batch``; ``--batches`` gives the list instead. The last line printed is one JSON
object with every figure: the ``*_b32`` keys are batch 32 (with ``--batches``: its first size), the ``*_max``
keys the largest that fit (``largest_batch``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository, when run as a script from anywhere
from mosei_attn.data.corpora.mosei import MoseiCorpus  # noqa: E402
from mosei_attn.data.datamodule import MoseiDataModule  # noqa: E402
from mosei_attn.data.dataset import collate_batch  # noqa: E402
from mosei_attn.models import AttentionModule  # noqa: E402
from mosei_attn.synthetic.corpus_files import FOLDS_FILE  # noqa: E402
from mosei_attn.synthetic.writer import write_synthetic_corpus  # noqa: E402

#: Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) by device-name fragment, most specific first.
PEAK_TFLOPS = {"H200 NVL": 835.0, "H200": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 989.0}


def compose_train(tiny: bool):
    """The default run's config (conf/train.yaml) with the paper's spectrogram, or ``debug=tiny_shapes``'s."""
    from hydra import compose, initialize_config_dir

    from mosei_attn.config import CONFIG_DIR
    from mosei_attn.signatures import register_signatures

    register_signatures()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", ["data/audio=paper", *(["debug=tiny_shapes"] if tiny else [])])


def configs(tiny: bool) -> tuple[dict, dict, dict]:
    """Audio and text feature settings and the model's sizes: the paper's, or ``debug=tiny_shapes``'s."""
    cfg = compose_train(tiny)
    audio, text, model = (
        {k: v for k, v in OmegaConf.to_container(node).items() if k != "_target_"}
        for node in (cfg.data.audio, cfg.data.text, cfg.model)
    )
    return audio, text, model


def datamodule(work: Path, videos: int, tiny: bool, cuda: bool) -> tuple[MoseiDataModule, dict]:
    """The synthetic corpus, its feature cache and the set-up DataModule; and the model's sizes."""
    audio, text, model = configs(tiny)
    root = work / "corpus"
    workers = 1 if tiny else None  # None: every core
    write_synthetic_corpus(root, n_videos=videos, seed=1, workers=workers)
    corpus = functools.partial(MoseiCorpus, root, folds=root / FOLDS_FILE, word_dim=text["dim"])
    dm = MoseiDataModule(
        corpus,
        name="gpu_bench",
        cache_dir=str(work / "cache"),
        feature_workers=workers,
        audio=audio,
        text=text,
        pin_memory=cuda,
    )
    dm.prepare_data()
    dm.setup()
    return dm, model


def default_optimizer() -> dict:
    """The default run's optimizer config (conf/train.yaml's ``optimizer`` choice)."""
    return OmegaConf.to_container(compose_train(tiny=True).optimizer)


def training_model(meta, sizes: dict, args: argparse.Namespace, device: torch.device) -> tuple:
    """The attention model of ``sizes`` on ``device`` in training mode (compiled in place with ``--compile``,
    as the model's compile option does when fitting) and its optimizer (the default run's, no schedule)."""
    model = AttentionModule(meta=meta, optimizer=default_optimizer(), **(sizes | {"compile": False})).to(
        device
    )
    if args.compile:
        model.net.compile(mode=args.compile_mode)
    model.train()
    return model, model.configure_optimizers()


def peak_tflops(name: str) -> float | None:
    """The dense bf16 peak of the device called ``name``, when :data:`PEAK_TFLOPS` knows it."""
    return next((peak for key, peak in PEAK_TFLOPS.items() if key.lower() in name.lower()), None)


def train_step(model, opt, batch: dict, device: torch.device, bf16: bool, update: bool = True) -> None:
    """Copy ``batch`` to the device, forward (autocast), loss, backward and (``update``) the optimizer
    step."""
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    torch.compiler.cudagraph_mark_step_begin()  # a new step for CUDA graphs (--compile-mode reduce-overhead)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(batch).logits
        loss = model.loss(logits.float(), batch["target"])
    loss.backward()
    if update:
        opt.step()
    opt.zero_grad(set_to_none=True)


def measure(model, opt, dm: MoseiDataModule, batch: int, args, device: torch.device) -> dict:
    """Figures of ``batch`` (see the module docstring); raises torch.OutOfMemoryError when it does not fit."""
    cuda, bf16 = device.type == "cuda", args.precision == "bf16"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    data = dm.dataset("train")
    sampler = RandomSampler(data, num_samples=batch * (args.warmup + args.steps + 1))  # shuffles, repeated
    loader = DataLoader(
        data,
        batch_size=batch,
        sampler=sampler,
        num_workers=args.workers,
        collate_fn=collate_batch,
        pin_memory=cuda,
        persistent_workers=args.workers > 0,
        drop_last=True,
    )
    batches = iter(loader)
    try:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        eager = torch.compiler.set_stance("force_eager") if args.compile else contextlib.nullcontext()
        with eager, FlopCounterMode(display=False) as counter:  # one eager forward + backward, no update
            train_step(model, opt, next(batches), device, bf16, update=False)
        flops = counter.get_total_flops()
        for _ in range(args.warmup):
            train_step(model, opt, next(batches), device, bf16)
        sync()
        wait, start = 0.0, time.perf_counter()
        for _ in range(args.steps):
            t0 = time.perf_counter()
            b = next(batches)
            wait += time.perf_counter() - t0
            train_step(model, opt, b, device, bf16)
            sync()
        wall = time.perf_counter() - start
    finally:
        del batches, loader  # shuts its workers down
        gc.collect()
    achieved, peak = flops * args.steps / wall, args.peak_tflops
    return {
        "batch": batch,
        "samples_per_s": batch * args.steps / wall,
        "step_ms": 1000 * wall / args.steps,
        "data_wait": wait / wall,
        "tflops": achieved / 1e12,
        "mfu": achieved / (peak * 1e12) if peak else None,
        "flops_per_step": flops,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    }


def sweep(model, opt, dm: MoseiDataModule, args, device: torch.device) -> tuple[list[dict], int | None, str]:
    """Figures of each batch size that fits; the first size that did not (None: all did) and why."""
    sizes = args.batches or [32 * 2**i for i in range(20) if 32 * 2**i <= args.max_batch]
    rows = []
    for batch in sizes:
        try:
            rows.append(measure(model, opt, dm, batch, args, device))
        except torch.OutOfMemoryError:
            why = "out of memory"
        except RuntimeError as e:  # e.g. a kernel's size limit at a large batch: keep what was measured
            why = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"
        else:
            r = rows[-1]
            mfu = f"{100 * r['mfu']:6.1f}" if r["mfu"] is not None else "     -"
            gib = f"{r['peak_gib']:6.1f}" if r["peak_gib"] is not None else "     -"
            print(
                f"{batch:>6} {r['samples_per_s']:10.0f} {r['step_ms']:9.1f} {100 * r['data_wait']:7.1f} "
                f"{mfu} {gib}",
                flush=True,
            )
            continue
        opt.zero_grad(set_to_none=True)  # out of the except block: the traceback's tensors are gone
        gc.collect()
        torch.cuda.empty_cache()
        print(f"{batch:>6} {why}", flush=True)
        return rows, batch, why
    return rows, None, "all fit" if args.batches else f"--max-batch {args.max_batch}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    ap.add_argument("--batches", type=int, nargs="+", help="these batch sizes instead of the search")
    ap.add_argument("--max-batch", type=int, default=2048, help="the search's largest batch")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per batch size")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--workers", type=int, default=min(8, max(1, (os.cpu_count() or 2) - 1)))
    ap.add_argument("--videos", type=int, help="synthetic videos, ~7.7 segments each (150; --tiny: 16)")
    ap.add_argument("--peak-tflops", type=float, help="the device's peak (default: looked up by name)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network (as model.compile)")
    ap.add_argument(
        "--compile-mode", help="torch.compile mode (implies --compile): reduce-overhead = CUDA graphs"
    )
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick its kernels by timing")
    ap.add_argument("--tiny", action="store_true", help="the tiny shapes of debug=tiny_shapes")
    ap.add_argument("--workdir", type=Path, help="kept afterwards (default: a temporary one)")
    args = ap.parse_args()
    args.compile = args.compile or args.compile_mode is not None
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mosei_gpu_bench_"))
    try:
        t0 = time.perf_counter()
        videos = args.videos or (16 if args.tiny else 150)
        dm, sizes = datamodule(work, videos, args.tiny, device.type == "cuda")
        meta, n_train = dm.meta, len(dm.dataset("train"))
        print(
            f"{n_train} training segments ready in {time.perf_counter() - t0:.0f} s; spec "
            f"{'x'.join(map(str, meta.spec_shape))}, words {'x'.join(map(str, meta.text_shape))}"
        )
        torch.manual_seed(0)
        model, opt = training_model(meta, sizes, args, device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        args.peak_tflops = args.peak_tflops or peak_tflops(name)
        print(f"{name}, {args.precision}, {args.workers} loader workers, compile {args.compile}")
        print(f"{'batch':>6} {'samples/s':>10} {'step ms':>9} {'wait %':>7} {'MFU %':>6} {'GiB':>6}")
        rows, failed, why = sweep(model, opt, dm, args, device)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if not rows:
        raise SystemExit(f"batch {failed} failed on {name}: {why}")
    first, last = rows[0], rows[-1]
    result = {
        "device": name,
        "precision": args.precision,
        "workers": args.workers,
        "compile": args.compile,
        "compile_mode": args.compile_mode,
        "cudnn_benchmark": args.cudnn_benchmark,
        "spec_shape": list(meta.spec_shape),
        "text_shape": list(meta.text_shape),
        "train_segments": n_train,
        "peak_tflops": args.peak_tflops,
        "batches": rows,
        "base_batch": first["batch"],
        "largest_batch": last["batch"],
        "failed_batch": failed,
        "stop_reason": why,
        "gpu_waits_on_data": max(first["data_wait"], last["data_wait"]) > 0.05,
        "torch": torch.__version__,
    }
    for tag, r in (("b32", first), ("max", last)):
        result |= {f"{key}_{tag}": r[key] for key in ("samples_per_s", "mfu", "data_wait")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
