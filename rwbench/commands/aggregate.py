"""`rwbench aggregate` (CLI; the work is done by rwbench.metrics.aggregate)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench aggregate`."""
    parser.add_argument("--run", action="append", default=[], help="run directory (repeatable)")
    parser.add_argument("--runs-dir", default=None, help="take every run under this directory with a metrics.csv")
    parser.add_argument("--out", default="results/metrics.csv", help="output table (.csv or .parquet)")
    parser.add_argument("--format", default=None, choices=["csv", "parquet"], help="output format (default: by suffix)")


def run(args: argparse.Namespace) -> int:
    """Aggregate the given runs and print the output path."""
    from rwbench.metrics.aggregate import aggregate, find_runs

    run_dirs = list(args.run)
    if args.runs_dir:
        run_dirs += find_runs(args.runs_dir)
    if not run_dirs and not args.run:
        run_dirs = find_runs("results/runs")
    frame = aggregate(run_dirs, args.out, args.format)
    print(f"{args.out}: {len(frame)} rows from {frame['run_id'].nunique()} runs")
    return 0
