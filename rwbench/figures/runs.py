"""`rwbench figures`: build every figure and its tables from results/metrics.csv, run folders and input tables."""

from __future__ import annotations

import importlib
from pathlib import Path

from rwbench.plan.figures import FIGURES

FORMATS = ("png", "pdf", "svg")
RUNS = "runs"  # pseudo figure: the table of every run's resolved parameters
SUMMARY = "summary"  # pseudo figure: the report's front page <out>/summary.html (rwbench.figures.summary)
RUN_KEYS = ["run_id", "experiment", "figure", "model", "family", "dataset", "resolution", "sampler", "sampler_kind",
            "schedule", "steps", "nfe"]  # leading columns of runs.csv; every other spec key follows in name order


def runs_table(runs_dir: Path, run_frame, metric_names=()):
    """One row per run of the metrics table: its flattened spec.json (or its metric-table columns when the folder is
    absent); folders of runs that are not in the metrics table (e.g. from an older config) are left out."""
    import pandas as pd

    from rwbench.io import read_json
    from rwbench.metrics.aggregate import flatten

    rows = {}
    wanted = set(run_frame["run_id"])
    for spec_path in sorted(Path(runs_dir).glob("*/spec.json")):
        if spec_path.parent.name not in wanted:
            continue
        spec = flatten(read_json(spec_path))
        spec["run_id"] = str(spec.get("run_id") or spec_path.parent.name)
        rows[spec["run_id"]] = spec
    metric_names = set(metric_names)
    for record in run_frame.to_dict("records"):
        if record["run_id"] not in rows:
            rows[record["run_id"]] = {k: v for k, v in record.items() if k not in metric_names and k != "diverged_run"}
    table = pd.DataFrame(list(rows.values()))
    table["in_metrics"] = table["run_id"].isin(set(run_frame["run_id"]))
    lead = [c for c in RUN_KEYS if c in table.columns]
    table = table[lead + sorted(c for c in table.columns if c not in lead)]
    return table.sort_values("run_id").reset_index(drop=True)


def build_figures(metrics_path, runs_dir="results/runs", tables_dir="results/tables", out="reports", only=None,
                  formats=("png", "pdf")):
    """Run the chosen figures (and the pseudo figures `runs`, the runs table, and `summary`, the front page: all of
    them without `only`); returns ({figure: written files}, {figure: skip reason}, notes, runs-table and front-page
    files)."""
    from rwbench.figures.common import Context, SkipFigure, read_metrics

    names = list(FIGURES) if not only else [n for n in only if n not in (RUNS, SUMMARY)]
    with_runs, with_summary = not only or RUNS in only, not only or SUMMARY in only
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"--only: unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"--formats: need a comma list of {', '.join(FORMATS)}, got {','.join(formats) or 'nothing'}")
    metrics = read_metrics(metrics_path)
    ctx = Context(metrics, Path(runs_dir), Path(tables_dir), Path(out), tuple(formats))
    written, skipped = {}, {}
    for name in names:
        module = importlib.import_module(FIGURES[name].module)
        try:
            written[name] = module.build(ctx)
        except SkipFigure as reason:
            skipped[name] = str(reason)
    if written:
        from rwbench.figures.captions import write_readme

        write_readme(ctx.out)        # <out>/figures/README.md: every figure there with its caption
    runs_files = []
    if with_runs or with_summary:
        runs = runs_table(ctx.runs_dir, ctx.runs, set(metrics["metric"].astype(str)))
    if with_runs:
        runs_files = ctx.save_table(runs, RUNS)
    if with_summary:
        from rwbench.figures.summary import write_summary

        runs_files.append(write_summary(runs.merge(ctx.runs[[c for c in ctx.runs.columns if c not in runs.columns
                                                             or c == "run_id"]], on="run_id", how="left"),
                                        ctx.out, runs_dir=ctx.runs_dir))
    return written, skipped, ctx.notes, runs_files
