"""`rwbench export` (CLI; the work is done by rwbench.tools.oneshot.export_run)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench export`."""
    parser.add_argument("run", help="run directory (results/runs/<run_id>) with spec.json and shards/")
    parser.add_argument("--out", required=True, help="folder for <index>.png, samples.npz (arr_0: uint8 N,H,W,C) "
                                                     "and export.json")
    parser.add_argument("--include-diverged", action="store_true",
                        help="also write diverged images (all-zero pixels); left out by default")


def run(args: argparse.Namespace) -> int:
    """Export one run and print a summary line."""
    from rwbench.tools.oneshot import export_run

    info = export_run(args.run, args.out, args.include_diverged)
    print(f"{info['run_id']}: {info['images']} images {'x'.join(map(str, info['shape']))} -> {args.out} "
          f"({info['diverged_left_out']} diverged left out; npz {info['npz']})")
    return 0
