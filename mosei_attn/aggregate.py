"""One table from a sweep: ``python -m mosei_attn.aggregate <multirun folder> [more folders] [--out DIR]``.

Every job folder of a Hydra multirun holds ``.hydra/overrides.yaml`` (its command-line overrides) and, when
it finished, ``metrics.json``. Jobs whose overrides are equal once the seed (and the keys in ``IGNORED``,
which move files but not figures) are left out form one configuration; for each, WA, UA and macro F1 are given
as mean +- sample standard deviation (ddof 1) over its finished seeds, with n, on the validation split (beside
the paper's figures, which are validation figures) and on the test split.
Jobs without a readable metrics.json are counted and listed as missing, and a finished job's metric whose
value is not a finite number (NaN, null, text) is listed as left out, with the mean's own n beside it: never
dropped silently.
Writes ``aggregate.md``, ``aggregate.csv``, ``aggregate.png`` (bars with +-1 std error bars) and
``aggregate_curves.png`` (per-epoch losses, val/wa and val/ua of each configuration, mean and band over
seeds, best epoch and majority-class WA marked: :mod:`mosei_attn.reporting.sweep_plots`) into the first
folder, or ``--out``, and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mosei_attn.errors import UserFault, user_errors
from mosei_attn.files import write_text
from mosei_attn.process import process_setup
from mosei_attn.reporting.paper import PAPER_RESULTS
from mosei_attn.reporting.sweep_plots import (
    epoch_curves,
    metric_title,
    paper_position,
    plot_bars,
    plot_learning_curves,
    shared_majority_wa,
)

#: Figures tabulated by default (keys of metrics.json, fractions in [0, 1]): the best checkpoint's validation
#: figures (the paper's split) and test figures, then the test UA with each segment given another segment's
#: words and how far those words move alpha (mosei_attn.models.text_guidance; "—" for a model without
#: attention).
DEFAULT_METRICS = (
    "val/wa",
    "val/ua",
    "val/f1_macro",
    "test/wa",
    "test/ua",
    "test/f1_macro",
    "test/shuffled/ua",
    "test/text_guidance",
)
#: Override keys (or key prefixes) that do not define a configuration: the seed is what runs are averaged
#: over; the others choose where files go, what is logged, or how fast features are built.
IGNORED = (
    "seed",
    "paths.",
    "hydra.",
    "logger",
    "tags",
    "sweep_name",
    "callbacks.progress_bar",
    "data.feature_workers",
    "data.num_workers",
    "ckpt_path",
)
OUTPUT_NAME = "aggregate"
#: Columns of the printed table at least (pipes and logs report 80).
MIN_CONSOLE_WIDTH = 120


@dataclass(frozen=True)
class Run:
    """One job folder: its overrides (key -> value, in command-line order), metrics, or why it has none."""

    folder: Path
    overrides: tuple[tuple[str, str], ...]
    metrics: dict[str, Any] | None
    problem: str = ""

    def config(self, ignored: Sequence[str] = IGNORED) -> tuple[tuple[str, str], ...]:
        return tuple((k, v) for k, v in self.overrides if not _ignored(k, ignored))


def _ignored(key: str, ignored: Sequence[str]) -> bool:
    return any(key == p or (p.endswith(".") and key.startswith(p)) for p in ignored)


def _natural(path: Path) -> list[Any]:
    """Sort key: job 10 after job 9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


class SweepFolderError(UserFault, FileNotFoundError):
    """A folder given to aggregate that is missing or holds no job folders."""


def _number(value: Any) -> float:
    """A metric's value as a float; NaN for anything that is not a finite number (null, text, NaN)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else math.nan


def find_runs(*sweep_dirs: str | os.PathLike) -> list[Run]:
    """Every job folder (one holding ``.hydra/overrides.yaml``) under the given folders, in job order."""
    runs = []
    for sweep_dir in map(Path, sweep_dirs):
        if not sweep_dir.is_dir():
            raise SweepFolderError(
                f"{sweep_dir}: not a folder (give a multirun folder, e.g. lightning_logs/multirun/<time>)"
            )
        found = sorted(sweep_dir.rglob(".hydra/overrides.yaml"), key=_natural)
        if not found:
            raise SweepFolderError(
                f"{sweep_dir}: no job folders (no */.hydra/overrides.yaml below it): give the folder a "
                "multirun wrote (lightning_logs/multirun/<time>)"
            )
        for path in found:
            items = yaml.safe_load(path.read_text()) or []
            if not isinstance(items, list):
                raise ValueError(f"{path}: expected a list of overrides, got {type(items).__name__}")
            overrides = tuple((k.lstrip("+~"), v) for k, _, v in (str(o).partition("=") for o in items))
            folder = path.parent.parent
            metrics = None
            problem = ""
            try:
                metrics = json.loads((folder / "metrics.json").read_text())
                if not isinstance(metrics, dict):
                    problem = f"metrics.json holds {json.dumps(metrics)[:40]}, not an object of metrics"
            except FileNotFoundError:
                problem = "no metrics.json (failed or unfinished)"
            except (OSError, ValueError) as e:
                problem = f"unreadable metrics.json: {e}"
            metrics = metrics if isinstance(metrics, dict) else None
            runs.append(Run(folder, overrides, metrics, problem))
    return runs


def summarise(
    runs: Sequence[Run], metrics: Sequence[str] = DEFAULT_METRICS, ignored: Sequence[str] = IGNORED
) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per configuration (first-seen order) and the overrides every configuration shares.

    A row: ``config`` (the overrides that vary between configurations), ``model``, ``n`` (finished runs),
    ``missing``, ``<metric>`` -> (mean, std, n) with NaN where undefined, ``paper_wa`` / ``paper_ua``, and
    ``left_out``: (folder, metric, value as JSON) of each value a finished run gives that is not a finite
    number, which no mean includes."""
    groups: dict[tuple[tuple[str, str], ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(run.config(ignored), []).append(run)
    shared = set.intersection(*(set(key) for key in groups)) if groups else set()
    rows = []
    for key, members in groups.items():
        done = [r for r in members if r.metrics is not None]
        model = next(
            (str(r.metrics.get("model")) for r in done if r.metrics.get("model")), dict(key).get("model", "?")
        )
        paper = PAPER_RESULTS.get(model, {})
        row: dict[str, Any] = {
            "config": ", ".join(f"{k}={v}" for k, v in key if (k, v) not in shared)
            or (model if len(groups) == 1 else "(no other overrides)"),
            "model": model,
            "n": len(done),
            "missing": len(members) - len(done),
            "paper_wa": paper.get("wa", math.nan),
            "paper_ua": paper.get("ua", math.nan),
            "seeds": [dict(r.overrides).get("seed", "?") for r in done],
            "folders": [r.folder for r in members],
            "left_out": [],
        }
        for name in metrics:
            # a value that is not a number (NaN, null, text) leaves the others' mean as it is, and is named
            given = [(r, r.metrics[name], _number(r.metrics[name])) for r in done if name in r.metrics]
            row["left_out"] += [(r.folder, name, json.dumps(raw)) for r, raw, v in given if math.isnan(v)]
            values = np.array([v for _, _, v in given if not math.isnan(v)])
            mean = float(values.mean()) if len(values) else math.nan
            std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            row[name] = (mean, std, len(values))
        rows.append(row)
    return rows, [f"{k}={v}" for k, v in runs[0].config(ignored) if (k, v) in shared] if runs else []


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.2f}"


def _cell(stat: tuple[float, float, int], runs: int) -> str:
    """Mean ± std in percent; the mean's own n where fewer of the ``runs`` gave the metric a number."""
    mean, std, n = stat
    text = _pct(mean) if math.isnan(std) else f"{_pct(mean)} ± {_pct(std)}"
    return f"{text} (n={n})" if 0 < n < runs else text


def table_rows(rows: list[dict[str, Any]], metrics: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Header and text cells (percentages, mean ± std) of the printed and Markdown tables; the paper's WA and
    UA sit beside the validation figures."""
    at = paper_position(metrics)
    titles = [f"{metric_title(m)} %" for m in metrics]
    header = [
        "configuration",
        "model",
        "n",
        *titles[:at],
        "paper WA %",
        "paper UA %",
        *titles[at:],
        "missing",
    ]
    body = []
    for r in rows:
        cells = [_cell(r[m], r["n"]) for m in metrics]
        paper = [_pct(r["paper_wa"]), _pct(r["paper_ua"])]
        body.append(
            [r["config"], r["model"], str(r["n"]), *cells[:at], *paper, *cells[at:], str(r["missing"])]
        )
    return header, body


def _left_out(row: dict[str, Any]) -> list[str]:
    """One line for each value of a finished run that no mean includes."""
    return [f"{folder}: {name} is {value}, not a finite number" for folder, name, value in row["left_out"]]


def to_markdown(
    rows: list[dict[str, Any]], metrics: Sequence[str], shared: Sequence[str], missing: Sequence[Run]
) -> str:
    header, body = table_rows(rows, metrics)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in body]
    notes = [
        "",
        "Mean ± sample std (ddof 1) over seeds of the best checkpoint's figures; n = finished runs (a cell's "
        "own n where fewer gave it a number). Paper: real MOSEI validation (Tables 1-2): compare it with the "
        "val columns.",
    ]
    if shared:
        notes.append(f"Shared by every run: `{' '.join(shared)}`.")
    notes += [f"- missing: `{r.folder}`: {r.problem}" for r in missing]
    notes += [f"- left out: {line}" for row in rows for line in _left_out(row)]
    return "\n".join(lines + notes) + "\n"


def to_csv(rows: list[dict[str, Any]], metrics: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    stats = [f"{m}_{s}" for m in metrics for s in ("mean", "std", "n")]
    writer.writerow(["configuration", "model", "n", "missing", *stats, "paper_wa", "paper_ua", "seeds"])
    for r in rows:
        values = [v for m in metrics for v in r[m]]
        writer.writerow(
            [
                r["config"],
                r["model"],
                r["n"],
                r["missing"],
                *("" if isinstance(v, float) and math.isnan(v) else v for v in values),
                *("" if math.isnan(r[k]) else r[k] for k in ("paper_wa", "paper_ua")),
                " ".join(r["seeds"]),
            ]
        )
    return out.getvalue()


def aggregate(
    sweep_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    ignored: Sequence[str] = IGNORED,
) -> dict[str, Any]:
    """Read the sweeps, print the table, write Markdown / CSV / PNG; returns rows, missing runs and paths."""
    from rich.console import Console
    from rich.table import Table

    runs = find_runs(*sweep_dirs)
    rows, shared = summarise(runs, metrics, ignored)
    missing = [r for r in runs if r.metrics is None]
    out_dir = Path(out) if out else Path(sweep_dirs[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    header, body = table_rows(rows, metrics)
    table = Table(title=f"{len(runs)} runs in {', '.join(map(str, sweep_dirs))}", caption=" ".join(shared))
    for i, h in enumerate(header):
        widest = max([len(h) if i else 0] + [len(cells[i]) for cells in body])
        table.add_column(h, justify="left" if i < 2 else "right", overflow="fold", min_width=min(widest, 16))
    for cells in body:
        table.add_row(*cells)
    console = Console(width=max(Console().width, MIN_CONSOLE_WIDTH))  # numbers stay on one line
    console.print(table)
    for r in missing:
        console.print(f"[yellow]missing[/]: {r.folder}: {r.problem}")
    for row in rows:
        for line in _left_out(row):
            console.print(f"[yellow]left out[/]: {line}")
    paths = {
        "markdown": write_text(out_dir / f"{OUTPUT_NAME}.md", to_markdown(rows, metrics, shared, missing)),
        "csv": write_text(out_dir / f"{OUTPUT_NAME}.csv", to_csv(rows, metrics)),
        "png": plot_bars(rows, metrics, out_dir / f"{OUTPUT_NAME}.png"),
    }
    curves = epoch_curves({r["config"]: r["folders"] for r in rows})
    if curves:  # runs under fast_dev_run log no epochs
        path = out_dir / f"{OUTPUT_NAME}_curves.png"
        paths["curves"] = plot_learning_curves(
            curves, path, shared_majority_wa(r.metrics for r in runs if r.metrics)
        ).path
    return {"rows": rows, "shared": shared, "missing": missing, "paths": paths}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mosei_attn.aggregate", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "sweep_dirs", nargs="+", help="multirun folder(s), e.g. lightning_logs/multirun/<time>"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for aggregate.md/.csv/.png/_curves.png (default: the first folder)",
    )
    parser.add_argument(
        "--metrics", nargs="+", default=list(DEFAULT_METRICS), help="metrics.json keys to tabulate"
    )
    parser.add_argument(
        "--ignore", nargs="*", default=[], help="more override keys (or 'prefix.') to average over"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    process_setup()  # malloc and warning filters for this process (not at import)
    args = build_parser().parse_args(argv)
    with user_errors():
        result = aggregate(args.sweep_dirs, args.out, args.metrics, (*IGNORED, *args.ignore))
    print("\n".join(f"wrote {p}" for p in result["paths"].values()))


if __name__ == "__main__":
    main()
