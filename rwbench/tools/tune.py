"""Tuning without selection bias (issue 14, item 5): pick the template's (schedule, c, T_K) per NFE budget on the
oracle's exact metric with one set of seeds, then evaluate the chosen settings with fresh seeds on the oracle and on
the learned models, beside the best solver (selected the same way) and DPM-Solver++(2M).

Metric: squared energy distance (rwbench.metrics.distances.energy_distance) on the [0, 1] image scale. On the oracle against
exact draws from its mixture (a fresh set of draws per seed), on learned models against the dataset's reference
split (samples clamped and quantised to uint8 like every image metric). Selection uses seed `select_seed` for the
samplers' noise and the exact draws; replicate r of the evaluation uses seed `eval_seed + r` for both, so the
reported numbers never saw the data that chose them. Intervals: Student-t over the replicates' values.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from rwbench.plan import grid
from rwbench.core.rng import image_seed

F64 = torch.float64
SHIPPED = {"schedule": "sigmoid", "c": 0.5, "T0": 0.4, "TK": 1.0}   # the template as the default nfe experiment runs it
ROLES = ("template-tuned", "template-shipped", "best-solver", "dpmpp-2m")


@dataclass
class Model:
    """A model the experiment samples: its config name, denoiser, and (learned models) reference images in [0, 1]."""

    name: str
    denoiser: object
    reference: torch.Tensor | None = None     # None: the oracle (exact draws per seed)


def _spec(config: dict, model: str, sampler: str, budget: int, seed: int, n: int, noise: str | None = None,
          **axes) -> dict:
    """The run spec (rwbench.plan.grid) of one sampler setting at an NFE budget (`noise`: the step-noise option,
    coupled or independent; None: the schema's default)."""
    exp = {"models": [model], "samplers": [sampler], "nfe": [int(budget)], "seed": int(seed), "n_images": int(n)}
    if noise is not None:
        exp["noise"] = noise
    for key, value in axes.items():
        exp[{"schedule": "schedules"}.get(key, key)] = [value]
    cfg = dict(config, experiments={"tune": exp})
    specs = list(grid.expand(cfg).values())
    if len(specs) != 1:
        raise ValueError(f"tune: {sampler} at NFE {budget} expanded to {len(specs)} runs, expected 1")
    return specs[0]


def exact_draws(oracle, n: int, seed: int) -> torch.Tensor:
    """n exact draws from the oracle's mixture, generator seeded by (seed, tune/exact)."""
    g = torch.Generator().manual_seed(image_seed(seed, "tune/exact", 0))
    return oracle.sample(int(n), generator=g).to(F64)


def score(spec: dict, model: Model) -> float:
    """Energy distance of n samples of a spec to the model's reference (oracle: exact draws with the spec's seed)."""
    from rwbench.data import to_uint8
    from rwbench.run.runners import run_sampler, to_unit
    from rwbench.metrics.distances import energy_distance

    n = int(spec["n_images"])
    dtype = F64 if spec["family"] == "oracle" else torch.float32
    with torch.no_grad():
        x = run_sampler(spec, model.denoiser, range(n), dtype=dtype)["x"]
    if model.reference is None:
        lo, hi = spec["data_range"]
        ref = (exact_draws(model.denoiser, n, int(spec["seed"])) - lo) / (hi - lo)
        return energy_distance(to_unit(x, spec["data_range"]), ref)
    sample = to_uint8(x.to(F64), tuple(spec["data_range"])).to(F64) / 255.0
    return energy_distance(sample, model.reference)


def select(config: dict, oracle: Model, budgets, *, schedules, cs, TKs, T0, solvers, n: int, seed: int,
           progress=None, noise: str | None = None) -> list[dict]:
    """Score every template setting (schedule x c x T_0 x T_K; T0 a number or a list) and every solver at every budget
    on the oracle with `seed` (step noise `noise`, None: the schema's default); rows carry `chosen` (the lowest energy
    distance per budget among the template settings, and among the solvers)."""
    rows = []
    T0s = list(T0) if isinstance(T0, (list, tuple)) else [T0]
    for budget in budgets:
        batch = []
        for schedule, c, t0, TK in itertools.product(schedules, cs, T0s, TKs):
            spec = _spec(config, oracle.name, "simplified", budget, seed, n, noise, schedule=schedule, c=c, T0=t0,
                         TK=TK)
            batch.append({"group": "template", "sampler": "simplified", "schedule": schedule, "c": float(c),
                          "T0": float(t0), "TK": float(TK), "spec": spec})
        for solver in solvers:
            spec = _spec(config, oracle.name, solver, budget, seed, n, noise, schedule="karras")
            batch.append({"group": "solver", "sampler": solver, "schedule": spec["schedule"], "c": math.nan,
                          "T0": math.nan, "TK": math.nan, "spec": spec})
        for row in batch:
            row.update(budget=int(budget), nfe=row["spec"]["nfe"], steps=row["spec"]["steps"], seed=int(seed),
                       energy_distance=score(row["spec"], oracle))
            if progress:
                progress(f"select budget={budget} {row['sampler']} {row['schedule']} c={row['c']:g} TK={row['TK']:g} "
                         f"nfe={row['nfe']} energy_distance={row['energy_distance']:.5g}")
        for group in ("template", "solver"):
            part = [r for r in batch if r["group"] == group]
            best = min(part, key=lambda r: (r["energy_distance"], r["sampler"])) if part else None
            for r in part:
                r["chosen"] = r is best
        rows += [{k: v for k, v in r.items() if k != "spec"} for r in batch]
    return rows


def settings(selection: list[dict], budget: int) -> dict[str, dict]:
    """role -> sampler setting at a budget: the tuned and the shipped template, the best solver, DPM-Solver++(2M)."""
    part = [r for r in selection if r["budget"] == budget]
    tuned = next(r for r in part if r["group"] == "template" and r["chosen"])
    out = {"template-tuned": {"sampler": "simplified", **{k: tuned[k] for k in ("schedule", "c", "T0", "TK")}},
           "template-shipped": {"sampler": "simplified", **SHIPPED}}
    solver = next((r for r in part if r["group"] == "solver" and r["chosen"]), None)
    if solver is not None:
        out["best-solver"] = {"sampler": solver["sampler"], "schedule": solver["schedule"]}
    out["dpmpp-2m"] = {"sampler": "dpmpp-2m", "schedule": "karras"}
    return out


def evaluate(config: dict, models: list[Model], selection: list[dict], budgets, *, n: int, replicates: int,
             seed: int, progress=None) -> list[dict]:
    """Every role's setting at every budget on every model, replicate r with the fresh seed `seed + r`."""
    rows = []
    for budget in budgets:
        for role, setting in settings(selection, budget).items():
            axes = {k: v for k, v in setting.items() if k != "sampler"}
            for model, r in itertools.product(models, range(int(replicates))):
                spec = _spec(config, model.name, setting["sampler"], budget, seed + r, n, **axes)
                value = score(spec, model)
                rows.append({"budget": int(budget), "role": role, "model": model.name, "sampler": setting["sampler"],
                             "schedule": setting.get("schedule"), "c": setting.get("c", math.nan),
                             "T0": setting.get("T0", math.nan), "TK": setting.get("TK", math.nan),
                             "steps": spec["steps"], "nfe": spec["nfe"], "replicate": r, "seed": seed + r,
                             "energy_distance": value})
                if progress:
                    progress(f"evaluate budget={budget} {role} {setting['sampler']} model={model.name} seed={seed + r} "
                             f"energy_distance={value:.5g}")
    return rows


def summarize(evaluation: list[dict]):
    """Mean and 95 % Student-t interval over replicates per (model, budget, role)."""
    import pandas as pd
    from scipy import stats

    frame = pd.DataFrame(evaluation)
    keys = ["model", "budget", "role", "sampler", "schedule", "c", "T0", "TK", "steps", "nfe"]
    out = []
    for key, part in frame.groupby(keys, dropna=False, sort=False):
        v = part["energy_distance"].to_numpy(float)
        mean = float(v.mean())
        half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
        out.append(dict(zip(keys, key), energy_distance=mean, ci_lo=mean - half, ci_hi=mean + half, replicates=len(v)))
    return pd.DataFrame(out)


def plot(summary, path) -> None:
    """One panel per model: energy distance vs NFE of the tuned template (its chosen settings written at the points),
    the shipped template, the best solver and DPM-Solver++(2M), with 95 % intervals over replicates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import NullFormatter

    models = list(dict.fromkeys(summary["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.8 * len(models), 3.8), squeeze=False)
    styles = {"template-tuned": ("C0", "o", "-"), "template-shipped": ("C0", "s", ":"), "best-solver": ("C3", "^", "--"),
              "dpmpp-2m": ("C2", "D", "--")}
    for ax, model in zip(axes[0], models):
        part = summary[summary["model"] == model]
        for role in ROLES:
            rows = part[part["role"] == role].sort_values("budget")
            if rows.empty:
                continue
            x, y = rows["nfe"].to_numpy(float), rows["energy_distance"].to_numpy(float)
            err = np.nan_to_num(np.vstack([y - rows["ci_lo"].to_numpy(float), rows["ci_hi"].to_numpy(float) - y]))
            color, marker, ls = styles[role]
            label = role if role != "best-solver" else "best solver (" + ", ".join(dict.fromkeys(rows["sampler"])) + ")"
            ax.errorbar(x, y, yerr=err, color=color, marker=marker, ls=ls, ms=4, capsize=2, label=label)
            if role == "template-tuned":
                for xi, yi, r in zip(x, y, rows.itertuples()):
                    ax.annotate(f"{r.schedule} c={r.c:g} TK={r.TK:g}", (xi, yi), fontsize=6, xytext=(3, 3),
                                textcoords="offset points")
        ax.set_xscale("log")
        ticks = sorted({int(b) for b in part["budget"]})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yscale("symlog", linthresh=0.01)   # the U-statistic can dip below 0 around an exact sampler
        ax.set_xlabel("NFE budget (denoiser evaluations per image)")
        ax.set_ylabel("energy distance (fresh seeds)")
        ax.set_title(model, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Which simple walk at my budget? Template tuned on the oracle vs solvers", fontsize=10)
    fig.tight_layout()
    from rwbench.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150)
    plt.close(fig)


__all__ = ["Model", "select", "evaluate", "settings", "summarize", "plot", "score", "exact_draws", "SHIPPED", "ROLES"]
