"""Launching ``train`` as one run: optional plugins, DDP children, ``srun`` / ``torchrun`` ranks, sweep jobs.

Lightning's DDP launcher re-runs the command line for ranks > 0; ``launch_argv`` gives them rank 0's job and
run folder, so a sweep job is not re-swept and one run writes one folder. ``job_scope`` ends what a job
started, so the next job of a sweep run in the same process starts clean.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig

#: Command-line prefixes that need an optional extra: (module to import, ``pip install -e .[extra]``).
EXTRAS: dict[str, tuple[str, str]] = {
    "hparams_search=": ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
    "hydra/sweeper=optuna": ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
    "hydra/launcher=slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "hydra/launcher=submitit": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "hydra/launcher=parallel": ("hydra_plugins.hydra_joblib_launcher", "parallel"),
    "hydra/launcher=joblib": ("hydra_plugins.hydra_joblib_launcher", "parallel"),
}
#: Environment variables rank 0 leaves for Lightning's DDP child processes (inherited by them).
RUN_DIR_ENV, OVERRIDES_ENV = "MOSEI_ATTN_RUN_DIR", "MOSEI_ATTN_OVERRIDES"
#: What Lightning's DDP launcher sets in the launching process.
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def job_scope(cfg: DictConfig) -> Iterator[None]:
    """Run one Hydra job: leave its run folder and overrides for DDP children (see :func:`launch_argv`), and
    afterwards end what it started. A sweep runs its jobs in this process: Lightning's DDP launcher leaves its
    rank variables here (the next job would take them as "launched externally" and wait for ranks that never
    start), the DDP process group, and the W&B run."""
    from hydra.core.hydra_config import HydraConfig

    os.environ[RUN_DIR_ENV] = str(Path(cfg.paths.output_dir).resolve())
    os.environ[OVERRIDES_ENV] = json.dumps(list(HydraConfig.get().overrides.task))
    saved_env = {k: os.environ.get(k) for k in DDP_ENV}
    try:
        yield
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        if getattr(sys.modules.get("wandb"), "run", None) is not None:
            sys.modules["wandb"].finish()  # else the next job's WandbLogger would log into this run
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def launch_argv(argv: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """The command line Hydra should parse. Exits with the extra to install when an override needs a missing
    optional plugin; gives a Lightning DDP child (LOCAL_RANK > 0) rank 0's job and run folder, as one run;
    under ``srun`` / ``torchrun`` (several processes), asks for a fixed ``hydra.run.dir`` and keeps ranks > 0
    out of ``.hydra/``."""
    for arg in argv[1:]:
        key = arg.lstrip("+~")
        for module, extra in [v for prefix, v in EXTRAS.items() if key.startswith(prefix)]:
            if not key.endswith(("=null", "=None")) and not importable(module):
                raise SystemExit(
                    f"{arg} needs the optional extra [{extra}], not installed: "
                    f"pip install -e '.[{extra}]' (module {module})"
                )
    local_rank = int(environ.get("LOCAL_RANK") or 0)
    if local_rank > 0 and environ.get(RUN_DIR_ENV):
        run_dir = environ[RUN_DIR_ENV].replace('"', '\\"')
        return [
            argv[0],
            *json.loads(environ[OVERRIDES_ENV]),
            f'hydra.run.dir="{run_dir}"',
            "hydra.mode=RUN",
            "hydra.output_subdir=null",
            f"hydra.job.name=train_ddp_process_{local_rank}",
        ]
    # Processes started by srun or torchrun each compose their own config: a timestamped folder would differ.
    if int(environ.get("SLURM_STEP_NUM_TASKS") or environ.get("WORLD_SIZE") or 1) > 1:
        if not any(a.startswith(("hydra.run.dir=", "ckpt_path=")) for a in argv[1:]):
            raise SystemExit(
                "several processes (srun, torchrun): give them all the same run folder, e.g. "
                "hydra.run.dir=lightning_logs/train/slurm-$SLURM_JOB_ID (see docs/cluster.md)"
            )
        rank = int(environ.get("SLURM_PROCID") or environ.get("RANK") or 0)
        if rank > 0:
            return [*argv, "hydra.output_subdir=null", f"hydra.job.name=train_rank{rank}"]
    return argv


def importable(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
