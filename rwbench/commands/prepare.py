"""`rwbench prepare` (CLI; the work is done by rwbench.tools.prepare)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench prepare`."""
    parser.add_argument("--config", required=True, help="YAML file with an `embedded:` section")
    parser.add_argument("--out", required=True, help="output folder for the data, oracles and reference samples")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Prepare and print one line per oracle."""
    from rwbench.tools.prepare import prepare
    from rwbench.training.config import load_embedded_config

    meta = prepare(load_embedded_config(args.config), args.out, progress=not args.no_progress)
    for name, info in meta["oracles"].items():
        print(f"oracle={name} components={info['n_components']} converged={info['converged']} "
              f"loglik={info['mean_log_likelihood']:.2f} seconds={info['seconds']} out={args.out}")
    return 0
