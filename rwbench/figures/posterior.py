"""Oracle posterior calibration: credible-interval coverage of the truth and of exact draws, and PSNR gap, per sampler and task.

Coverage is the fraction of coordinates inside the per-coordinate central `level` interval of the sampler's draws
(rwbench.metrics.posterior_quality.oracle_quality); a calibrated sampler sits at the coverage that N exact posterior draws
reach with the same quantile rule (dashed line: measured on the same targets with N independent exact draws,
<metric>_exact_n; without those, rwbench.metrics.posterior_quality.reference_coverage, 0.805 for N = 16 at the 0.9 level),
not at the nominal level. The PSNR gap is PSNR(mean of N draws) - PSNR(exact posterior mean); its
reference (dashed) is the gap of the mean of N exact draws. Error bars: 95 % intervals over targets (t, G - 1 df).
One marker colour per (task, eta), its legend entry naming both ("inpaint, eta = 0.05"); a sampler off its published
step (step_scale != 1) is its own x category ("dps (step_scale = 2)").
"""

from __future__ import annotations

import inspect
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from rwbench.figures.common import (Context, SkipFigure, eta_of, eta_text, interval_errors, metric_label, metric_table,
                                    step_scale_text)

PANELS = ["coverage", "coverage_of_exact_draws", "psnr_gap"]
KEYS = ["model", "sampler", "sampler_kind", "task", "task_params_eta", "schedule", "steps", "params_c", "params_T0",
        "params_step_scale", "samples_per_target"]


def x_label(row) -> str:
    """x category of a run: its sampler, with its step_scale when not the published 1."""
    scale = step_scale_text(row)
    return str(row["sampler"]) + (f" ({scale})" if scale else "")


def series_label(row, several_models: bool) -> str:
    """Legend entry of a run's colour: task and eta (and model when the figure has several)."""
    parts = [str(row.get("task", "-")), eta_text(eta_of(row))] + ([str(row.get("model"))] if several_models else [])
    return ", ".join(p for p in parts if p)


def default_level() -> float:
    """The credible level oracle_quality uses when the metrics carry no `level` row."""
    from rwbench.metrics.posterior_quality import oracle_quality

    return float(inspect.signature(oracle_quality).parameters["level"].default)


def _reference(row, metric: str):
    """Reference level of a panel: what N exact draws reach on the same targets (evaluate's <metric>_exact_n, measured
    with the run's independent exact_reference draws), else the expected coverage of N exact draws (metrics row, else
    Monte Carlo); for the PSNR gap, the gap of the mean of N exact draws."""
    from rwbench.metrics.posterior_quality import reference_coverage
    from rwbench.metrics.registry import EXACT_N

    measured = row.get(metric + EXACT_N, np.nan)
    if measured is not None and np.isfinite(float(measured)):
        return float(measured)
    if metric.startswith("coverage"):
        value = row.get("coverage_reference", np.nan)
        if not np.isfinite(value) and float(row.get("samples_per_target", np.nan) or np.nan) >= 2:
            value = reference_coverage(int(row["samples_per_target"]), float(row["level"]), n_mc=20_000)
        return float(value) if np.isfinite(value) else None
    value = row.get("psnr_gap_exact_draws", np.nan)
    return float(value) if np.isfinite(value) else None


def build(ctx: Context) -> list[Path]:
    """Point plot per metric: x = sampler (and step_scale), one marker colour per (task, eta), error bars = <metric>_se
    when present."""
    runs = ctx.figure_runs("posterior")
    panels = [(m, metric_label(m)) for m in PANELS if m in runs.columns and np.isfinite(runs[m].astype(float)).any()]
    if not panels:
        raise SkipFigure("the posterior runs have no coverage / coverage_of_exact_draws / psnr_gap values")
    runs = runs.copy()
    if "level" in runs.columns and runs["level"].notna().any():
        runs["level_source"] = np.where(runs["level"].notna(), "metrics", "oracle_quality default")
        runs["level"] = runs["level"].fillna(default_level())
    else:
        runs["level"], runs["level_source"] = default_level(), "oracle_quality default"
    # the coverage N exact posterior draws reach (evaluate's row, else Monte Carlo with the same quantile rule)
    runs["coverage_reference"] = [_reference(row, "coverage") for _, row in runs.iterrows()]
    runs["coverage_reference"] = runs["coverage_reference"].astype(float)
    runs["x_label"] = [x_label(row) for _, row in runs.iterrows()]
    samplers = sorted(runs["x_label"].unique())
    # one colour per (task, eta): runs of different measurement noise are never drawn unmarked side by side
    series = sorted({(str(row.get("task", "-")), eta_of(row)) for _, row in runs.iterrows()},
                    key=lambda te: (te[0], -1.0 if te[1] is None else te[1]))
    width = 0.7 / max(1, len(series))
    models = sorted(runs["model"].astype(str).unique()) if "model" in runs.columns else ["None"]
    markers = ["o", "s", "^", "D"]  # one marker per model
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(panels), figsize=(max(3.6, 1.1 * len(samplers) + 1.5) * len(panels), 3.4),
                             squeeze=False)
    for ax, (metric, title) in zip(axes[0], panels):
        for t, key in enumerate(series):
            part = runs[[(str(row.get("task", "-")), eta_of(row)) == key for _, row in runs.iterrows()]]
            for _, row in part.iterrows():
                x = samplers.index(row["x_label"]) + (t - (len(series) - 1) / 2) * width
                m = models.index(str(row.get("model")))
                name = series_label(row, len(models) > 1)
                ax.errorbar([x], [row[metric]], yerr=interval_errors(row, metric), fmt=markers[m % 4],
                            color=colors(t % 10), capsize=3, label=name)
                ref = _reference(row, metric)
                if ref is not None:     # what exact posterior sampling reaches with the same N
                    ax.hlines(ref, x - width / 2, x + width / 2, color=colors(t % 10), ls="--", lw=1.2,
                              label=f"exact draws, N = {int(row['samples_per_target'])}")
        if metric.startswith("coverage"):
            ax.set_ylim(0, 1.02)
        else:
            ax.axhline(0.0, color="black", ls=":", lw=0.9, label="exact posterior mean")
        ax.set_xticks(range(len(samplers)), samplers, rotation=20, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(samplers) - 0.4)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=7)
    fig.tight_layout()
    metrics = []
    for m, _ in panels:
        metrics += [m] + [f"{m}{s}" for s in ("_se", "_ci95_lo", "_ci95_hi") if f"{m}{s}" in runs.columns]
    metrics += ["coverage_reference"] + [m for m in ("psnr_gap_exact_draws", "coverage_exact_n",
                                                     "coverage_of_exact_draws_exact_n") if m in runs.columns]
    table = metric_table(runs, KEYS + ["level", "level_source"], metrics)
    return ctx.save_figure(fig, "posterior") + ctx.save_table(table, "posterior")
