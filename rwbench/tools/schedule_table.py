"""`rwbench schedules`: tabulate sigma_k, tau_k = c sigma_k^2 and linear T_k of named noise ladders (paper.md sections 4, 6)."""

from __future__ import annotations

import torch

from rwbench.core import schedules as sch
from rwbench.core.presets import PAPER_RUNS
from rwbench.plan.samplers import resolve_schedule

SCHEDULES = ("vp_pretrained", "sigmoid", "linear", "geometric", "karras")
FAMILY = "vp"  # the table spans the VP range: "pretrained" is the VP model's own levels (rwbench.plan.samplers.resolve_schedule)
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
        return sch.named_ladder(resolve_schedule(name, FAMILY), K, sigma_min, sigma_max)
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
