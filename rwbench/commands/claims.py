"""`rwbench claims`: the claims ledger (reports/claims.csv, reports/claims.md) of a config's declared claims."""

from __future__ import annotations

import argparse

from rwbench.plan.config import node


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench claims`."""
    parser.add_argument("--config", required=True, help="the config whose `claims:` and experiments made the runs")
    parser.add_argument("--runs-dir", default=None, help="run folders (default: <results_dir>/runs of the config)")
    parser.add_argument("--out", default=None, help="writes <out>/claims.{csv,md} (default: the config's reports_dir)")
    parser.add_argument("--reference-cache", default=None,
                        help="reference statistics of FID / KID (default: <results_dir>/reference)")
    parser.add_argument("--extractor", default=None, choices=node("metrics.extractor")["enum"],
                        help="extractor evaluate used (default: as evaluate)")


def run(args: argparse.Namespace) -> int:
    """Evaluate and decide every claim; print one line per claim and where the ledger went."""
    from rwbench.analysis import claims
    from rwbench.plan.config import load_and_validate

    config = load_and_validate(args.config)
    runs_dir = args.runs_dir or f"{config['results_dir']}/runs"
    out = args.out or config["reports_dir"]
    cache = args.reference_cache or f"{config['results_dir']}/reference"
    frame = claims.ledger(config, runs_dir, out, cache, args.extractor,
                          q=(config.get("compare") or {}).get("q"))
    for _, r in frame.iterrows():
        print(f"{r['decision']:>12}  {r['claim']}: {r['metric']} a - b {r['estimate']:.4g} "
              f"[{r['ci_lo']:.4g}, {r['ci_hi']:.4g}] n={r['n']}")
    paths = claims.write_ledger(frame, out)
    print(", ".join(str(p) for p in paths))
    return 0
