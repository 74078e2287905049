"""W&B dashboards as code:
``python -m mosei_attn.dashboard entity=<entity> project=mosei_attn group=<sweep>``.

Builds (and saves, ``save=true``) a W&B workspace that sets WA against UA for the models of one sweep. The
runs are those of W&B group ``group`` (our loggers set it to ``sweep_name``, or the multirun folder's name)
grouped by job type (the model); W&B draws all runs of a group in the group's colour, one colour per model:

- "WA against UA": one point per run, WA on x and UA on y, for the validation split (the best checkpoint's,
  ``best/val/wa`` / ``best/val/ua``) and the test split (the same checkpoint's ``test/wa`` / ``test/ua``);
- "WA and UA by model": WA and UA as grouped bars, one pair per model (mean with a +-1 std band over seeds),
  for validation and test;
- "Per epoch": ``val/wa`` and ``val/ua``, and the training and validation loss, against the epoch.

A run's summary holds what the bars and points show: ``best/val/*`` and ``best/epoch`` (the best
checkpoint, written when training ends) and the best ``val/ua`` (``wandb.define_metric``, see
:mod:`mosei_attn.training.loggers`). Needs the optional extra ``pip install -e '.[dashboard]'``
(wandb-workspaces). The offline equivalent is ``python -m mosei_attn.aggregate <multirun folder>``
(``aggregate.png``, ``aggregate_curves.png``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from mosei_attn.config import CONFIG_DIR
from mosei_attn.process import process_setup

log = logging.getLogger(__name__)

#: (title, x, y) of the scatter panels: WA against UA of the best checkpoint, per split (summary keys).
SCATTERS = (
    ("validation (best checkpoint): WA against UA", "best/val/wa", "best/val/ua"),
    ("test (best checkpoint): WA against UA", "test/wa", "test/ua"),
)
#: (title, metrics) of the grouped bar panels: WA and UA side by side for each model, per split.
BARS = (
    ("validation WA and UA by model (mean ± std over seeds)", ("best/val/wa", "best/val/ua")),
    ("test WA and UA by model (mean ± std over seeds)", ("test/wa", "test/ua")),
)
#: (title, y) of the per-epoch line panels.
LINES = (
    ("validation WA and UA per epoch", ("val/wa", "val/ua")),
    ("loss per epoch", ("train/loss", "val/loss")),
)
#: W&B run attribute our loggers set to the model name (conf/logger/wandb.yaml: job_type).
GROUP_BY = "JobType"
#: Colours of the models' groups, in the order of conf/model/*.yaml (matplotlib's first tab10 colours).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
EXTRA_HINT = "python -m mosei_attn.dashboard needs the optional extra: pip install -e '.[dashboard]'"


def _libraries() -> tuple[Any, Any]:
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError as e:  # only the optional extra is missing
        raise SystemExit(f"{EXTRA_HINT} ({e})") from e
    return ws, wr


def model_colours() -> dict[str, str]:
    """Model name (a job type) -> the colour of its runs: the models of conf/model/."""
    names = sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))
    return {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}


def build_panels(wr: Any) -> dict[str, list[Any]]:
    """Section name -> panels: the WA-against-UA scatters, the grouped WA / UA bars (mean and std band over
    the runs of a model, the runset's grouping) and the per-epoch curves."""
    stats = {"groupby_aggfunc": "mean", "groupby_rangefunc": "stddev"}
    scatters = [wr.ScatterPlot(title=t, x=x, y=y, range_x=(0, 1), range_y=(0, 1)) for t, x, y in SCATTERS]
    bars = [wr.BarPlot(title=t, metrics=list(ms), orientation="v", **stats) for t, ms in BARS]
    lines = [
        wr.LinePlot(title=t, x="epoch", y=list(ys), title_x="epoch", title_y=", ".join(ys), **stats)
        for t, ys in LINES
    ]
    return {"WA against UA": scatters, "WA and UA by model": bars, "Per epoch": lines}


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
            filters=ws.And(ws.Metric("Group") == str(group)),
            groupby=[ws.Metric(GROUP_BY)],
            group_colors=model_colours(),
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
