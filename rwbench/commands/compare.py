"""`rwbench compare`: paired differences with 95 % intervals and decisions for every comparison the figures make."""

from __future__ import annotations

import argparse

from rwbench.plan.config import defaults, node

COMPARE = defaults("compare")
EXTRACTORS = node("metrics.extractor")["enum"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench compare`."""
    parser.add_argument("--config", required=True, help="the config whose experiments made the runs")
    parser.add_argument("--runs-dir", default=None, help="run folders (default: <results_dir>/runs of the config)")
    parser.add_argument("--out", default=None, help="writes <out>/tables/comparisons.{csv,md} (default: reports_dir)")
    parser.add_argument("--experiments", default=None, help="comma list of experiments (default: all)")
    parser.add_argument("--n-boot", type=int, default=None,
                        help=f"bootstrap replicates (default: the config's compare.n_boot, else {COMPARE['n_boot']})")
    parser.add_argument("--reference-cache", default=None,
                        help="reference statistics of FID / KID (default: <results_dir>/reference)")
    parser.add_argument("--extractor", default=None, choices=EXTRACTORS,
                        help="extractor evaluate used (default: digits-cnn for digits, else Inception; as evaluate)")


def run(args: argparse.Namespace) -> int:
    """Build the table; print its counts and where it went."""
    from rwbench.analysis import compare
    from rwbench.plan.config import load_and_validate

    config = load_and_validate(args.config)       # schema defaults filled in (results_dir, reports_dir, compare)
    runs_dir = args.runs_dir or f"{config['results_dir']}/runs"
    out = args.out or config["reports_dir"]
    names = [s.strip() for s in args.experiments.split(",") if s.strip()] if args.experiments else None
    least = node("compare.n_boot")["minimum"]
    if args.n_boot is not None and args.n_boot < least:
        raise ValueError(f"--n-boot {args.n_boot}: need at least {least} replicates (the schema's compare.n_boot "
                         f"minimum); give a larger --n-boot or leave it out to use the config's")
    options = {"n_boot": args.n_boot} if args.n_boot is not None else {}   # overrides the config's compare.n_boot
    cache = args.reference_cache or f"{config['results_dir']}/reference"
    table, notes = compare.compare(config, runs_dir, names, options, cache, args.extractor)
    q = dict(COMPARE, **(config.get("compare") or {}))["q"]
    paths = compare.write(table, notes, out, q)
    decided = table["decision"].isin(["a < b", "a > b"])
    counts = [f"{int((table['kind'] == kind).sum())} {label} ({int((decided & (table['kind'] == kind)).sum())} decided)"
              for kind, label in (("difference", "differences"), ("calibration", "calibration rows"))]
    print(f"comparisons: {', '.join(counts)}, {int((table['kind'] == 'equivalence').sum())} equivalence tests")
    for note in notes:
        print(f"note {note}")
    print(", ".join(str(p) for p in paths))
    return 0
