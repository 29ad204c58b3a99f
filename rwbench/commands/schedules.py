"""`rwbench schedules`: tabulate sigma_k, tau_k = c sigma_k^2 and linear T_k of named noise ladders (paper.md sections 4, 6)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rwbench import schedules as sch
from rwbench.io import atomic_write
from rwbench.presets import PAPER_RUNS
from rwbench.samplers import resolve_schedule

SCHEDULES = ("vp_pretrained", "sigmoid", "linear", "geometric", "karras")
FAMILY = "vp"  # the table spans the VP range: "pretrained" is the VP model's own levels (rwbench.samplers.resolve_schedule)
COLUMNS = ["schedule", "K", "k", "sigma", "tau", "temperature", "c", "T0", "TK"]
FALLBACK_RUN = "vp-uncond-pretrained"  # c, T_0 for ladders without a published unconditional config


def vp_range() -> tuple[float, float]:
    """(sigma_min, sigma_max) of DDPM's linear betas 1e-4..0.02 over 1000 steps: sigma_t = sqrt((1-abar_t)/abar_t)."""
    sig = sch.vp_sigmas(sch.linear_betas())
    return float(sig.min()), float(sig.max())


def paper_settings(schedule: str) -> tuple[float, float, str]:
    """(c, T_0, source) of the paper's unconditional config for this ladder (VP first), else of vp-uncond-pretrained."""
    try:
        ladder = resolve_schedule(schedule, FAMILY)
    except ValueError as err:
        raise ValueError(f"--schedules: {err}") from err
    for family in ("vp", "ve"):
        for name, run in PAPER_RUNS.items():
            if run["ladder"] == ladder and run["family"] == family and "eta" not in run:
                return float(run["c"]), float(run["T0"]), name
    run = PAPER_RUNS[FALLBACK_RUN]
    return float(run["c"]), float(run["T0"]), FALLBACK_RUN


def schedule_sigmas(name: str, K: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """sigma_k of one named ladder for a VP model (schedules.named_ladder); vp_pretrained (alias pretrained)
    interpolates linear_betas()' DDPM levels (range ignored)."""
    try:
        return sch.named_ladder(name, FAMILY, K, sigma_min, sigma_max)
    except ValueError as err:
        raise ValueError(f"--schedules: {err}") from err


def schedule_table(names, steps, sigma_min: float | None = None, sigma_max: float | None = None,
                   c: float | None = None, T0: float | None = None, TK: float = 1.0):
    """Tidy table (schedule, K, k, sigma, tau = c sigma^2, temperature = linear T_0 -> T_K, c, T0, TK) for every ladder x K."""
    import pandas as pd

    lo, hi = vp_range()
    sigma_min = lo if sigma_min is None else float(sigma_min)
    sigma_max = hi if sigma_max is None else float(sigma_max)
    rows = []
    for name in names:
        pc, pT0, _ = paper_settings(name)
        cc = pc if c is None else float(c)
        t0 = pT0 if T0 is None else float(T0)
        for K in steps:
            sig = schedule_sigmas(name, int(K), sigma_min, sigma_max)
            tau = sch.proportional_steps(sig, cc)
            temp = sch.linear_temperatures(int(K), t0, TK)
            rows.append(pd.DataFrame({"schedule": name, "K": int(K), "k": range(int(K)), "sigma": sig.numpy(),
                                      "tau": tau.numpy(), "temperature": temp.numpy(), "c": cc, "T0": t0,
                                      "TK": float(TK)}))
    if not rows:
        raise ValueError("--schedules/--steps: need at least one schedule and one step count")
    return pd.concat(rows, ignore_index=True)[COLUMNS]


def _csv_list(text: str, cast, option: str) -> list:
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    try:
        return [cast(s) for s in items]
    except ValueError as err:
        raise ValueError(f"{option}: cannot parse {text!r} as a comma-separated list ({err})") from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench schedules`."""
    lo, hi = vp_range()
    parser.add_argument("--schedules", default=",".join(SCHEDULES), help="comma list of ladders")
    parser.add_argument("--steps", default="100", help="comma list of level counts K")
    parser.add_argument("--sigma-min", type=float, default=None,
                        help=f"smallest level (default: the VP range, {lo:.7g}; ignored by vp_pretrained)")
    parser.add_argument("--sigma-max", type=float, default=None,
                        help=f"largest level (default: the VP range, {hi:.6g}; the FFHQ VE model uses 348)")
    parser.add_argument("--c", type=float, default=None,
                        help="step factor of tau_k = c sigma_k^2 (default: the paper's value per ladder, else "
                             f"{FALLBACK_RUN}'s)")
    parser.add_argument("--T0", type=float, default=None, help="first temperature (default: as --c)")
    parser.add_argument("--TK", type=float, default=1.0, help="last temperature")
    parser.add_argument("--out", default="results/tables/schedules.csv", help="output CSV")


def run(args: argparse.Namespace) -> int:
    """Write the schedules table and print one line per ladder and K."""
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
