"""`rwbench floors` (CLI; the work is done by rwbench.metrics.floors): results/floors.csv of the given runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from rwbench.plan.config import defaults, node

FLOORS = defaults("floors")
EXTRACTORS = node("metrics.extractor")["enum"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench floors`."""
    parser.add_argument("--spec", action="append", default=[], help="a run's spec.json (repeatable)")
    parser.add_argument("--runs-dir", default=None, help="take every <runs-dir>/*/spec.json")
    parser.add_argument("--out", default="results/floors.csv", help="output table")
    parser.add_argument("--html", default=None, help="also write the table as an HTML page (the report shows it inline)")
    parser.add_argument("--reference-cache", default="results/reference", help="directory of reference statistics")
    parser.add_argument("--extractor", default=None, choices=EXTRACTORS,
                        help="feature extractor (default: digits-cnn for digits, else Inception; as evaluate)")
    parser.add_argument("--extractor-weights", default=None, help="weights file of the extractor")
    parser.add_argument("--draws", type=int, default=FLOORS["draws"], help="independent draws per (reference, n), >= 10")
    parser.add_argument("--seed", type=int, default=FLOORS["seed"], help="seed of the draws")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--batch-size", type=int, default=256, help="feature extraction batch size")


def run(args: argparse.Namespace) -> int:
    """Compute the floors of the given runs and write floors.csv."""
    from rwbench.run import rundir
    from rwbench.run.devices import pin_device
    from rwbench.io import read_json
    from rwbench.metrics.floors import compute_floors
    from rwbench.plan.failures import produced

    paths = [Path(p) for p in args.spec]
    if args.runs_dir:
        paths += sorted(Path(args.runs_dir).glob(f"*/{rundir.SPEC}"))
    if not paths:
        raise ValueError("floors: no runs; pass --spec results/runs/<run>/spec.json or --runs-dir results/runs")
    paths = [p for p in paths if produced(p.parent, "plan")]     # a failed plan leaves an empty spec.json
    specs = [read_json(p) for p in paths]
    rows = compute_floors(specs, args.reference_cache, args.extractor, args.extractor_weights, args.draws, args.seed,
                          pin_device(args.device), args.batch_size)
    frame = rundir.write_floors(args.out, rows)
    if args.html:
        from rwbench.io import write_table_html

        write_table_html(frame, args.html, "Floors",
                         "What real images disjoint from the reference (or exact oracle draws) score at each n: mean and "
                         "sd over independent draws. A cell's score inside its floor band is as good as data.")
    print(f"{args.out}: {len(rows)} rows")
    return 0
