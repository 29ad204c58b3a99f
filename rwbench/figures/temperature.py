"""End-temperature sweep (paper Fig. 3) and metrics vs temperature: sample grids per T_K and metric curves vs T_K."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rwbench.figures import style
from rwbench.figures.common import (SHOWN, Context, SkipFigure, axis_label, draw_floor, first_images, image_grid,
                                    interval_columns, label, metric_label, metric_table, present_metrics, read_floors,
                                    reference_labels, show_montage)

METRICS = ["energy_distance", "fid", "kid_mean", "confident_share", "class_entropy"]
KEYS = ["model", "schedule", "sampler", "steps", "params_c", "params_T0", "params_TK"]


def _groups(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.copy()
    runs["curve"] = runs["model"].astype(str) + " / " + runs["schedule"].astype(str)
    runs["T0_label"] = runs["params_T0"].map(label) if "params_T0" in runs.columns else "-"
    order = {c: i for i, c in enumerate(dict.fromkeys(runs["curve"]))}   # legends in config (run) order
    return runs.assign(_order=runs["curve"].map(order)).sort_values(["_order", "T0_label", "params_TK"]) \
        .drop(columns="_order").reset_index(drop=True)


def sample_grids(ctx: Context, runs: pd.DataFrame) -> list[Path]:
    """One panel per model / schedule (at most MAX_PANELS): a montage whose rows are T_0 and columns T_K ascending,
    each cell the first images of shard 0."""
    temps = sorted(runs["params_TK"].dropna().unique())
    curves = list(dict.fromkeys(runs["curve"]))[:style.MAX_PANELS]
    panels = []
    for curve in curves:
        t0s = list(dict.fromkeys(runs.loc[runs["curve"] == curve, "T0_label"]))
        tiles = []
        for t0 in t0s:
            row = []
            for TK in temps:
                match = runs[(runs["curve"] == curve) & (runs["T0_label"] == t0) & (runs["params_TK"] == TK)]
                images = first_images(ctx.run_dir(match["run_id"].iloc[0]), SHOWN) if len(match) else None
                if images is None and len(match):
                    ctx.note(f"temperature: run {match['run_id'].iloc[0]} has no shard; its cell is empty")
                row.append(None if images is None else image_grid(images))
            tiles.append(row)
        if any(t is not None for row in tiles for t in row):
            panels.append((curve, t0s, tiles))
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(min((1.5 * len(temps) + 0.8) * len(panels), style.MAX_WIDTH_IN),
                                                      1.6 * max(len(p[1]) for p in panels) + 1.0), squeeze=False)
    for ax, (curve, t0s, tiles) in zip(axes[0], panels):
        show_montage(ax, tiles, [f"$T_K$ = {label(t)}" for t in temps], [f"$T_0$ = {t0}" for t0 in t0s],
                     f"{curve}: samples per end temperature", fontsize=7)
    fig.tight_layout()
    return ctx.save_figure(fig, "temperature-samples")


def metric_curves(ctx: Context, runs: pd.DataFrame, metrics: list[str]) -> list[Path]:
    """One panel per metric: value vs T_K, one line per model / schedule, line style per T_0 when several exist."""
    metrics = metrics[:style.MAX_PANELS]
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    t0s = list(dict.fromkeys(runs["T0_label"]))
    styles, markers = style.line_styles(t0s), ["o", "s", "^", "D"]
    curves = list(dict.fromkeys(runs["curve"]))
    colors = style.series_colors(curves)
    floors = read_floors(ctx.tables_dir)
    for ax, metric in zip(axes.ravel(), metrics):
        for i, curve in enumerate(curves):
            for j, t0 in enumerate(t0s):
                part = runs[(runs["curve"] == curve) & (runs["T0_label"] == t0)].sort_values("params_TK")
                if part.empty:
                    continue
                name = curve if len(t0s) == 1 else f"{curve}, $T_0$={t0}"
                bounds, y = interval_columns(part, metric), part[metric].to_numpy(float)
                yerr = None if bounds is None else np.nan_to_num(np.clip([y - bounds[0], bounds[1] - y], 0, None))
                ax.errorbar(part["params_TK"].to_numpy(float), part[metric].to_numpy(float), yerr=yerr,
                            color=colors[curve], ls=styles[t0], marker=markers[j % len(markers)], ms=4,
                            capsize=2, label=name)
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        n = runs["n_images"].iloc[0] if "n_images" in runs.columns and runs["n_images"].nunique() == 1 else None
        draw_floor(ax, floors, metric, n, reference_labels(ctx, runs, metric))
        ax.set_xlabel(axis_label("params_TK"))
        ax.set_ylabel(metric_label(metric))
        ax.set_title(f"{metric_label(metric, unit=False)} against the end temperature")
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=6)
    for ax in axes.ravel()[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    return ctx.save_figure(fig, "temperature", draws=metrics)


def build(ctx: Context) -> list[Path]:
    """Sample grids per T_K and metric curves vs T_K of the `temperature` runs; table of the numbers."""
    runs = ctx.figure_runs("temperature")
    if "params_TK" not in runs.columns or not np.isfinite(runs["params_TK"].astype(float)).any():
        raise SkipFigure("the temperature runs have no params_TK (end temperature) column")
    runs = _groups(runs[runs["params_TK"].notna()])
    written = sample_grids(ctx, runs)
    metrics = present_metrics(runs, METRICS)
    if metrics:
        written += metric_curves(ctx, runs, metrics)
    else:
        ctx.note("temperature: no fid / kid_mean / confident share / class_entropy values; metric curves skipped")
    extra = [f"{m}{b}" for m in metrics for b in ("_ci_lo", "_ci_hi", "_ci95_lo", "_ci95_hi", "_se")
             if f"{m}{b}" in runs.columns]
    if not written:
        raise SkipFigure("the temperature runs have neither shards nor metrics")
    return written + ctx.save_table(metric_table(runs, KEYS, metrics + extra), "temperature")
