"""`rwbench figures` (CLI; the work is done by rwbench.figures.runs)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench figures`."""
    parser.add_argument("--metrics", default="results/metrics.csv", help="aggregated metrics (rwbench aggregate)")
    parser.add_argument("--runs-dir", default="results/runs", help="run folders (spec.json, shards/)")
    parser.add_argument("--tables-dir", default="results/tables",
                        help="input tables: schedules.csv (rwbench schedules), equivalence.csv (rwbench equivalence)")
    parser.add_argument("--out", default="reports", help="writes <out>/figures/* and <out>/tables/*")
    parser.add_argument("--only", default=None, help="comma list of figures (and `runs`, the run-parameter table, and "
                        "`summary`, the report's front page); default: all (rwbench.figures.FIGURES, runs, summary)")
    parser.add_argument("--formats", default="png,pdf", help="comma list of figure formats (png, pdf, svg)")


def run(args: argparse.Namespace) -> int:
    """Build the figures; print one line per figure written or skipped, then the notes."""
    from rwbench.figures.runs import build_figures

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    formats = tuple(s.strip() for s in args.formats.split(",") if s.strip())
    written, skipped, notes, runs_files = build_figures(args.metrics, args.runs_dir, args.tables_dir, args.out, only,
                                                        formats)
    for name, files in written.items():
        print(f"figure {name}: {len(files)} files: {', '.join(str(f) for f in files)}")
    for name, reason in skipped.items():
        print(f"skip {name}: {reason}")
    for text in notes:
        print(f"note {text}")
    if runs_files:
        print(f"runs table, front page: {', '.join(str(f) for f in runs_files)}")
    return 0
