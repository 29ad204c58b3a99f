"""Quality per cost: FID and KID (mean +- std over subsets) vs NFE, one line per sampler and schedule, log x."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from rwbench.figures.common import Context, SkipFigure, metric_table

KEYS = ["model", "sampler", "sampler_kind", "schedule", "steps", "nfe", "params_c", "params_T0"]


def build(ctx: Context) -> list[Path]:
    """Panels FID vs NFE and KID vs NFE (error bars kid_std); diverged runs are marked with x at the panel bottom."""
    runs = ctx.figure_runs("nfe")
    if "nfe" not in runs.columns or not np.isfinite(runs["nfe"].astype(float)).any():
        raise SkipFigure("the nfe runs have no `nfe` column")
    panels = [m for m in ("fid", "kid_mean") if m in runs.columns and np.isfinite(runs[m].astype(float)).any()]
    if not panels:
        raise SkipFigure("the nfe runs have no fid or kid_mean values")
    runs = runs.copy()
    models = runs["model"].astype(str).unique()
    runs["curve"] = runs["sampler"].astype(str) + " / " + runs["schedule"].astype(str)
    if len(models) > 1:
        runs["curve"] = runs["model"].astype(str) + ": " + runs["curve"]
    runs = runs.sort_values(["curve", "nfe"]).reset_index(drop=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, metric in zip(axes[0], panels):
        for i, (curve, part) in enumerate(runs.groupby("curve", sort=False)):
            x, y = part["nfe"].to_numpy(float), part[metric].to_numpy(float)
            yerr = part["kid_std"].to_numpy(float) if metric == "kid_mean" and "kid_std" in part.columns else None
            ax.errorbar(x, y, yerr=yerr, marker="o", ms=4, capsize=2, color=colors(i % 10), label=curve)
            div = part["diverged_run"].to_numpy(bool)
            if div.any():
                ax.plot(x[div], np.zeros(div.sum()), "x", color=colors(i % 10), ms=7)
        ax.set_xscale("log")
        ticks = sorted(runs["nfe"].dropna().astype(int).unique())
        ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=8)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("NFE (denoiser evaluations per image)")
        ax.set_ylabel({"fid": "FID", "kid_mean": "KID"}[metric])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    if runs["diverged_run"].any():
        axes[0][-1].annotate("x at 0: diverged", xy=(0.98, 0.02), xycoords="axes fraction", ha="right", fontsize=7)
    fig.tight_layout()
    table = metric_table(runs, KEYS, [m for m in ("fid", "kid_mean", "kid_std") if m in runs.columns])
    return ctx.save_figure(fig, "nfe") + ctx.save_table(table, "nfe")
