"""Oracle posterior calibration: credible-interval coverage of the truth and of exact draws, and PSNR gap, per sampler and task.

Coverage is the fraction of coordinates inside the per-coordinate central `level` interval of the sampler's draws
(rwbench.metrics.posterior.oracle_quality); a calibrated sampler sits at the nominal level (dashed line). The PSNR
gap is PSNR(mean of N draws) - PSNR(exact posterior mean) (0 = as good as the exact MMSE, dotted line).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from rwbench.figures.common import Context, SkipFigure, metric_table

PANELS = [("coverage", "coverage of the ground truth"), ("coverage_of_exact_draws", "coverage of exact posterior draws"),
          ("psnr_gap", "PSNR(mean) - PSNR(exact MMSE) [dB]")]
KEYS = ["model", "sampler", "sampler_kind", "task", "schedule", "steps", "params_c", "params_T0", "samples_per_target"]


def default_level() -> float:
    """The credible level oracle_quality uses when the metrics carry no `level` row."""
    from rwbench.metrics.posterior import oracle_quality

    return float(inspect.signature(oracle_quality).parameters["level"].default)


def build(ctx: Context) -> list[Path]:
    """Point plot per metric: x = sampler, one marker colour per task, error bars = <metric>_se when present."""
    runs = ctx.figure_runs("posterior")
    panels = [(m, t) for m, t in PANELS if m in runs.columns and np.isfinite(runs[m].astype(float)).any()]
    if not panels:
        raise SkipFigure("the posterior runs have no coverage / coverage_of_exact_draws / psnr_gap values")
    runs = runs.copy()
    if "level" in runs.columns and runs["level"].notna().any():
        runs["level_source"] = np.where(runs["level"].notna(), "metrics", "oracle_quality default")
        runs["level"] = runs["level"].fillna(default_level())
    else:
        runs["level"], runs["level_source"] = default_level(), "oracle_quality default"
    samplers = sorted(runs["sampler"].astype(str).unique())
    tasks = sorted(runs["task"].astype(str).unique()) if "task" in runs.columns else ["-"]
    width = 0.7 / max(1, len(tasks))
    models = sorted(runs["model"].astype(str).unique()) if "model" in runs.columns else ["None"]
    markers = ["o", "s", "^", "D"]  # one marker per model
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(panels), figsize=(max(3.6, 1.1 * len(samplers) + 1.5) * len(panels), 3.4),
                             squeeze=False)
    for ax, (metric, title) in zip(axes[0], panels):
        for t, task in enumerate(tasks):
            part = runs[runs["task"].astype(str) == task] if "task" in runs.columns else runs
            for _, row in part.iterrows():
                x = samplers.index(str(row["sampler"])) + (t - (len(tasks) - 1) / 2) * width
                err = row.get(f"{metric}_se", np.nan)
                m = models.index(str(row.get("model")))
                name = task if len(models) == 1 else f"{task}, {row.get('model')}"
                ax.errorbar([x], [row[metric]], yerr=None if not np.isfinite(err) else [err], fmt=markers[m % 4],
                            color=colors(t % 10), capsize=3, label=name)
        if metric.startswith("coverage"):
            for level in sorted(runs["level"].unique()):
                ax.axhline(level, color="black", ls="--", lw=0.9, label=f"nominal {level:g}")
            ax.set_ylim(0, 1.02)
        else:
            ax.axhline(0.0, color="black", ls=":", lw=0.9)
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
    table = metric_table(runs, KEYS + ["level", "level_source"], metrics)
    return ctx.save_figure(fig, "posterior") + ctx.save_table(table, "posterior")
