"""`rwbench schedules` (CLI; the work is done by rwbench.tools.schedule_table)."""

from __future__ import annotations

import argparse
from pathlib import Path

SCHEDULES = "vp_pretrained,sigmoid,linear,geometric,karras"  # rwbench.tools.schedule_table.SCHEDULES


def _csv_list(text: str, cast, option: str) -> list:
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    try:
        return [cast(s) for s in items]
    except ValueError as err:
        raise ValueError(f"{option}: cannot parse {text!r} as a comma-separated list ({err})") from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench schedules`."""
    parser.add_argument("--schedules", default=SCHEDULES, help="comma list of ladders")
    parser.add_argument("--steps", default="100", help="comma list of level counts K")
    parser.add_argument("--sigma-min", type=float, default=None,
                        help="smallest level (default: the VP range of DDPM's linear betas; ignored by vp_pretrained)")
    parser.add_argument("--sigma-max", type=float, default=None,
                        help="largest level (default: the VP range; the FFHQ VE model uses 348)")
    parser.add_argument("--c", type=float, default=None,
                        help="step factor of tau_k = c sigma_k^2 (default: the paper's value per ladder, else "
                             "vp-uncond-pretrained's)")
    parser.add_argument("--T0", type=float, default=None, help="first temperature (default: as --c)")
    parser.add_argument("--TK", type=float, default=1.0, help="last temperature")
    parser.add_argument("--out", default="results/tables/schedules.csv", help="output CSV")


def run(args: argparse.Namespace) -> int:
    """Write the schedules table and print one line per ladder and K."""
    from rwbench.io import atomic_write
    from rwbench.tools.schedule_table import schedule_table

    names = _csv_list(args.schedules, str, "--schedules")
    steps = _csv_list(args.steps, int, "--steps")
    if any(K < 1 for K in steps):
        raise ValueError(f"--steps: need positive level counts, got {args.steps!r}")
    frame = schedule_table(names, steps, args.sigma_min, args.sigma_max, args.c, args.T0, args.TK)
    out = Path(args.out)
    with atomic_write(out, "w") as handle:
        frame.to_csv(handle, index=False)
    for (name, K), part in frame.groupby(["schedule", "K"], sort=False):
        print(f"schedule={name} K={K} sigma={part['sigma'].iloc[0]:.6g}->{part['sigma'].iloc[-1]:.6g} "
              f"c={part['c'].iloc[0]:g} T0={part['T0'].iloc[0]:g} TK={part['TK'].iloc[0]:g} out={out}")
    return 0
