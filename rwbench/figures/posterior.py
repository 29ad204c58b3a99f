"""Oracle posterior calibration: credible-interval coverage of the truth and of exact draws, and PSNR gap, per sampler and task.

Coverage is the fraction of coordinates inside the per-coordinate central `level` interval of the sampler's draws
(rwbench.metrics.posterior_quality.oracle_quality); a calibrated sampler sits at the coverage that N exact posterior draws
reach with the same quantile rule (dashed line: measured on the same targets with N independent exact draws,
<metric>_exact_n; without those, rwbench.metrics.posterior_quality.reference_coverage, 0.805 for N = 16 at the 0.9 level),
not at the nominal level. The PSNR gap is PSNR(mean of N draws) - PSNR(exact posterior mean); its
reference (dashed) is the gap of the mean of N exact draws. Error bars: 95 % intervals over targets (t, G - 1 df).
x: one category per (task, eta) ("inpaint, eta = 0.05"), so runs of different measurement noise are never drawn
unmarked side by side; colour and marker: the sampler's (rwbench.figures.style), a sampler off its published step
(step_scale != 1) its own entry ("dps (step_scale = 2)").
"""

from __future__ import annotations

import inspect
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from rwbench.figures import style
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
    runs["x_label"] = [x_label(row) for _, row in runs.iterrows()]            # the hue: sampler (step_scale)
    several = "model" in runs.columns and runs["model"].astype(str).nunique() > 1
    runs["group"] = [series_label(row, several) for _, row in runs.iterrows()]  # the x category: task, eta (model)
    groups = sorted(dict.fromkeys(runs["group"]))
    hues = list(dict.fromkeys(runs["x_label"]))                                  # config order
    width = 0.75 / max(1, len(hues))
    fig, axes = plt.subplots(1, len(panels), figsize=(min(max(3.6, 1.4 * len(groups) + 1.5) * len(panels) + 1.5,
                                                          style.MAX_WIDTH_IN), 3.4), squeeze=False)
    for ax, (metric, title) in zip(axes[0], panels):
        for h, hue in enumerate(hues):
            part = runs[runs["x_label"] == hue]
            for _, row in part.iterrows():
                x = groups.index(row["group"]) + (h - (len(hues) - 1) / 2) * width
                ax.errorbar([x], [row[metric]], yerr=interval_errors(row, metric), fmt=style.sampler_marker(hue),
                            color=style.sampler_color(hue), capsize=3, label=hue)
                ref = _reference(row, metric)
                if ref is not None:     # what exact posterior sampling reaches with the same N
                    ax.hlines(ref, x - width / 2, x + width / 2, color="black", ls="--", lw=1.0,
                              label=f"exact draws, N = {int(row['samples_per_target'])}")
        if metric.startswith("coverage"):
            ax.set_ylim(0, 1.02)
        else:
            ax.axhline(0.0, color="black", ls=":", lw=0.9, label="exact posterior mean")
        ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right", fontsize=7)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_xlabel("task, measurement noise eta")
        ax.set_ylabel(title)
        ax.set_title(metric_label(metric, unit=False), fontsize=9)
    handles, names = [], []
    for ax in axes[0]:
        for hnd, name in zip(*ax.get_legend_handles_labels()):
            if name not in names:
                handles.append(hnd)
                names.append(name)
    fig.legend(handles, names, fontsize=6, loc="outside right center", title="sampler", title_fontsize=6)
    fig.set_layout_engine("constrained")
    metrics = []
    for m, _ in panels:
        metrics += [m] + [f"{m}{s}" for s in ("_se", "_ci95_lo", "_ci95_hi") if f"{m}{s}" in runs.columns]
    metrics += ["coverage_reference"] + [m for m in ("psnr_gap_exact_draws", "coverage_exact_n",
                                                     "coverage_of_exact_draws_exact_n") if m in runs.columns]
    table = metric_table(runs, KEYS + ["level", "level_source"], metrics)
    return ctx.save_figure(fig, "posterior", draws=[m for m, _ in panels]) + ctx.save_table(table, "posterior")
