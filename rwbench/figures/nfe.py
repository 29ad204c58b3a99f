"""Quality per cost: each metric against NFE (denoiser evaluations per image), one line per model, sampler and
schedule (colour and marker: the sampler's, rwbench.figures.style; line style: model, schedule and settings; legends
in config order), with 95 % intervals from the ci columns (replicate seeds pooled: t over seeds), floors
(results/floors.csv) as bands, log x, linear y."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from rwbench.figures import style
from rwbench.figures.common import (Context, SkipFigure, axis_label, draw_floor, interval_columns, metric_label,
                                    metric_table, read_floors, reference_labels)

KEYS = ["model", "sampler", "sampler_kind", "schedule", "steps", "nfe", "params_c", "params_T0", "params_TK",
        "params_ancestral_eta"]
# panels in this order when present: the oracle's exact metric first, then the feature metrics of every model
METRICS = ("energy_distance", "fid", "kid_mean")   # labels: rwbench.metrics.registry
STYLE = {"template": "-", "solver": "--", "native": ":", "iadb": "-.", "posterior": "-."}


def interval(part: pd.DataFrame, metric: str) -> np.ndarray | None:
    """[2, n] error-bar half-widths of the metric's 95 % intervals (rwbench.figures.common.interval_columns); None when
    no run has one."""
    bounds = interval_columns(part, metric)
    if bounds is None:
        return None
    y = part[metric].to_numpy(float)
    return np.nan_to_num(np.vstack([y - bounds[0], bounds[1] - y]).clip(min=0))


def sparse_ticks(values, gap: float = 1.25) -> list[int]:
    """The NFE values as log-axis ticks, skipping any within a factor `gap` of the previous tick (19 next to 20)."""
    out: list[int] = []
    for v in sorted(int(v) for v in values):
        if not out or v >= gap * out[-1]:
            out.append(v)
    return out


def curve_labels(runs: pd.DataFrame) -> pd.Series:
    """sampler [eta=...] / schedule, prefixed by the model when the figure has several."""
    label = runs["sampler"].astype(str)
    if "params_ancestral_eta" in runs.columns:
        eta = runs["params_ancestral_eta"]
        label = label + eta.map(lambda v: f" eta={v:g}" if pd.notna(v) else "")
    label = label + " / " + runs["schedule"].astype(str)
    if runs["model"].astype(str).nunique() > 1:
        label = runs["model"].astype(str) + ": " + label
    return label


def variant_labels(runs: pd.DataFrame) -> pd.Series:
    """What a curve's line style stands for: the curve label without its sampler (model, eta, schedule)."""
    several = runs["model"].astype(str).nunique() > 1
    out = []
    for _, r in runs.iterrows():
        eta = r.get("params_ancestral_eta", np.nan)
        parts = ([str(r["model"])] if several else []) + ([f"eta={eta:g}"] if pd.notna(eta) else []) + [str(r["schedule"])]
        out.append(", ".join(parts))
    return pd.Series(out, index=runs.index)


def build(ctx: Context) -> list[Path]:
    """One panel per metric (energy distance on oracle runs, FID, KID) against NFE; diverged runs are x at the bottom."""
    runs = ctx.figure_runs("nfe")
    if "nfe" not in runs.columns or not np.isfinite(runs["nfe"].astype(float)).any():
        raise SkipFigure("the nfe runs have no `nfe` column")
    panels = [m for m in METRICS if m in runs.columns and np.isfinite(runs[m].astype(float)).any()]
    if not panels:
        raise SkipFigure(f"the nfe runs have none of {', '.join(METRICS)}")
    runs = runs.copy()
    runs["curve"] = curve_labels(runs)
    order = {c: i for i, c in enumerate(dict.fromkeys(runs["curve"]))}   # legend in config (run) order
    runs = runs.assign(_order=runs["curve"].map(order)).sort_values(["_order", "nfe"], kind="stable") \
        .drop(columns="_order").reset_index(drop=True)
    floors = read_floors(ctx.tables_dir)
    runs["variant"] = variant_labels(runs)
    samplers = list(dict.fromkeys(runs["sampler"].astype(str)))       # config order
    styles = style.line_styles(runs["variant"])
    fig, axes = plt.subplots(1, len(panels), figsize=(min(4.2 * len(panels) + 2.0, style.MAX_WIDTH_IN - 2.5), 3.8),
                             squeeze=False)
    for ax, metric in zip(axes[0], panels):
        finite = np.isfinite(runs[metric].astype(float))
        has_metric = runs["model"].isin(set(runs.loc[finite, "model"]))   # diverged runs of models with this metric
        shown = runs[finite | (runs["diverged_run"].astype(bool) & has_metric)]
        for curve, part in shown.groupby("curve", sort=False):
            sampler, variant = str(part["sampler"].iloc[0]), str(part["variant"].iloc[0])
            x, y = part["nfe"].to_numpy(float), part[metric].to_numpy(float)
            ax.errorbar(x, y, yerr=interval(part, metric), marker=style.sampler_marker(sampler), ms=3.5, capsize=2,
                        color=style.sampler_color(sampler), ls=styles[variant], label=curve)
            div = part["diverged_run"].to_numpy(bool)
            if div.any():
                ax.plot(x[div], np.zeros(div.sum()), "x", color=style.sampler_color(sampler), ms=7)
        ax.set_xscale("log")
        ticks = sparse_ticks(shown["nfe"].dropna().astype(int).unique())
        ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
        n = shown["n_images"].iloc[0] if "n_images" in shown.columns and shown["n_images"].nunique() == 1 else None
        draw_floor(ax, floors, metric, n, reference_labels(ctx, shown, metric))
        ax.set_xlabel(axis_label("nfe"))
        ax.set_ylabel(metric_label(metric))
        ax.set_title(f"{metric_label(metric, unit=False)} per cost")
    # one legend for all panels: each sampler once (its colour and marker), then each line style once
    handles = [Line2D([], [], color=style.sampler_color(s), marker=style.sampler_marker(s), ls="-", label=s)
               for s in samplers]
    handles += [Line2D([], [], color="0.3", ls=styles[v], label=v) for v in styles]
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab.startswith("floor") and lab not in [x.get_label() for x in handles]:
                handles.append(h)
    fig.legend(handles=handles, fontsize=6, loc="outside right center", title="sampler; line style", title_fontsize=6)
    if runs["diverged_run"].any():
        axes[0][-1].annotate("x at 0: diverged", xy=(0.98, 0.02), xycoords="axes fraction", ha="right", fontsize=7)
    fig.set_layout_engine("constrained")
    metrics = [c for m in panels for c in (m, f"{m}_se", f"{m}_ci95_lo", f"{m}_ci95_hi")]
    table = metric_table(runs, KEYS, [m for m in metrics if m in runs.columns])
    return ctx.save_figure(fig, "nfe", draws=panels) + ctx.save_table(table, "nfe")
