"""`rwbench pareto`: the Pareto front on the exact oracle (rwbench.analysis.pareto): reports/tables/oracle_pareto.csv
and the figures pareto and pareto-samples (rwbench.figures.pareto) of the experiments the config's `pareto:` names."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench pareto`."""
    parser.add_argument("--config", required=True, help="the config whose `pareto:` and experiments made the runs")
    parser.add_argument("--metrics", default=None,
                        help="aggregated metrics (default: <results_dir>/metrics.csv of the config)")
    parser.add_argument("--floors", default=None, help="floors table (default: <results_dir>/floors.csv)")
    parser.add_argument("--runs-dir", default=None, help="run folders, for the sample grids (default: <results_dir>/runs)")
    parser.add_argument("--out", default=None,
                        help="writes <out>/tables/oracle_pareto.{csv,md}, <out>/tables/pareto.{csv,md,html} and "
                             "<out>/figures/{pareto,pareto-samples}.{png,pdf} (default: the config's reports_dir)")
    parser.add_argument("--no-figures", action="store_true", help="write the table only")


def run(args: argparse.Namespace) -> int:
    """Build the table and the figures; print the table's view and the files written."""
    from pathlib import Path

    from rwbench.analysis import pareto
    from rwbench.plan.config import load_and_validate

    config = load_and_validate(args.config)
    results = config["results_dir"]
    out = args.out or config["reports_dir"]
    notes: list[str] = []
    frame, written = pareto.build(config, args.metrics or f"{results}/metrics.csv",
                                  args.floors or f"{results}/floors.csv", out, notes)
    if not args.no_figures:
        from rwbench.figures import pareto as figure
        from rwbench.figures.common import Context, read_metrics

        section = pareto.settings_of(config)
        ctx = Context(read_metrics(args.metrics or f"{results}/metrics.csv"), Path(args.runs_dir or f"{results}/runs"),
                      Path(results) / "tables", Path(out))
        written += figure.build(ctx, frame, section["samples_nfe"], section["samples"])
        notes += ctx.notes
    print(pareto.markdown(frame))
    for note in notes:
        print(f"note: {note}")
    for path in written:
        print(path)
    return 0
