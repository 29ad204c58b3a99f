"""`rwbench fidelity`: posterior fidelity across runs (issue 26; rwbench.analysis.posterior_fidelity): the table of
every posterior cell, the score-KSD validated on the oracle, the calibration claims, and their figures."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench fidelity`."""
    parser.add_argument("--runs", required=True, help="the run folders (results/runs), evaluated by `rwbench evaluate`")
    parser.add_argument("--out", required=True,
                        help="writes <out>/tables/{posterior_fidelity,ksd_validation,calibration_claims}.csv and "
                             "<out>/figures/{posterior-fidelity,calibration-curves}.{png,pdf}")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates of the rank correlations")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")


def run(args: argparse.Namespace) -> int:
    """Build the tables (and figures); print the validation and the claims."""
    from pathlib import Path

    from rwbench.analysis import posterior_fidelity as pf

    if args.n_boot < 100:
        raise ValueError(f"--n-boot {args.n_boot}: need at least 100 bootstrap replicates for a 95 % interval")
    written = pf.build(args.runs, args.out, n_boot=args.n_boot, seed=args.seed)
    frames = written.pop("_frames")
    if not args.no_figures:
        from rwbench.figures import posterior_fidelity as fig

        written.update(fig.build(frames["table"], frames["curves"], frames["validation"], Path(args.out) / "figures"))
    print(frames["validation"].to_string(index=False))
    print(frames["claims"]["per_sampler"].to_string(index=False))
    print(frames["claims"]["psnr_vs_gap"].to_string(index=False))
    for value in written.values():
        for path in value if isinstance(value, list) else [value]:
            print(path)
    return 0
