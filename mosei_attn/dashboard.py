"""W&B dashboards as code: ``python -m mosei_attn.dashboard entity=<entity> project=mosei_attn group=<sweep>``.

Builds (and saves, ``save=true``) a W&B workspace that compares the models of one sweep across its seeds. The
runs are those of W&B group ``group`` (our loggers set it to ``sweep_name``, or the multirun folder's name)
grouped by job type (the model), so every panel shows one mean per model with a +-1 std band over seeds:

- "WA and UA by model": bars of the best checkpoint's ``val/wa``, ``val/ua`` (the paper's split),
  ``test/wa``, ``test/ua`` and the best ``val/ua_best`` (a bar shows a run's summary value; training puts
  the best checkpoint's validation figures there, so both splits come from the same checkpoint);
- "Per epoch": ``val/wa``, ``val/ua`` and ``val/ua_best`` against the epoch.

Needs the optional extra ``pip install -e '.[dashboard]'`` (wandb-workspaces). The offline equivalent of
the same figures is ``python -m mosei_attn.aggregate <multirun folder>`` (``aggregate.png``,
``aggregate_curves.png``).
"""

from __future__ import annotations

import logging
from typing import Any

import hydra
from omegaconf import DictConfig

from mosei_attn.config import CONFIG_DIR
from mosei_attn.process import process_setup

log = logging.getLogger(__name__)

#: Final figures of each run (the best checkpoint's, from metrics.json), compared as bars.
SUMMARY_METRICS = ("val/wa", "val/ua", "test/wa", "test/ua", "val/ua_best")
#: Per-epoch curves.
EPOCH_METRICS = ("val/wa", "val/ua", "val/ua_best")
#: W&B run attribute our loggers set to the model name (conf/logger/wandb.yaml: job_type).
GROUP_BY = "JobType"
EXTRA_HINT = "python -m mosei_attn.dashboard needs the optional extra: pip install -e '.[dashboard]'"


def _libraries() -> tuple[Any, Any]:
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError as e:  # only the optional extra is missing
        raise SystemExit(f"{EXTRA_HINT} ({e})") from e
    return ws, wr


def build_panels(wr: Any) -> dict[str, list[Any]]:
    """Section name -> panels: the bars of the final figures, and one line plot per epoch metric; every
    panel aggregates the runs of a model (the runset's grouping) as mean with a std band."""
    stats = {"groupby_aggfunc": "mean", "groupby_rangefunc": "stddev"}
    bars = [
        wr.BarPlot(title=f"{m} by model (mean ± std over seeds)", metrics=[m], orientation="v", **stats)
        for m in SUMMARY_METRICS
    ]
    lines = [
        wr.LinePlot(title=f"{m} per epoch", x="epoch", y=[m], title_x="epoch", title_y=m, **stats)
        for m in EPOCH_METRICS
    ]
    return {"WA and UA by model": bars, "Per epoch": lines}


def build_workspace(entity: str, project: str, group: str, name: str | None = None) -> Any:
    """The workspace (a ``wandb_workspaces.workspaces.Workspace``, not saved) for sweep ``group``."""
    ws, wr = _libraries()
    sections = [
        ws.Section(name=title, panels=panels, is_open=True) for title, panels in build_panels(wr).items()
    ]
    return ws.Workspace(
        entity=str(entity),
        project=str(project),
        name=name or f"{group}: WA vs UA by model",
        sections=sections,
        runset_settings=ws.RunsetSettings(
            filters=ws.And(ws.Metric("Group") == str(group)), groupby=[ws.Metric(GROUP_BY)]
        ),
    )


def dashboard(cfg: DictConfig) -> Any:
    """Build the workspace of ``cfg`` and save it to W&B when ``cfg.save`` (needs a login); returns it."""
    workspace = build_workspace(cfg.entity, cfg.project, cfg.group, cfg.get("name"))
    if cfg.save:
        workspace.save()
        print(f"saved W&B workspace {workspace.name!r}: {workspace.url}")
    else:
        print(f"built W&B workspace {workspace.name!r} (not saved: save=false)")
    return workspace


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="dashboard")
def main(cfg: DictConfig) -> None:
    process_setup()  # malloc and warning filters for this process (not at import)
    dashboard(cfg)


if __name__ == "__main__":
    main()
