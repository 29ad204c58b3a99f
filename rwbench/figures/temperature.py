"""End-temperature sweep (paper Fig. 3) and metrics vs temperature: sample grids per T_K and metric curves vs T_K."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rwbench.figures.common import (SHOWN, Context, SkipFigure, axis_label, draw_floor, first_images, image_grid,
                                    interval_columns, label, metric_label, metric_table, present_metrics, read_floors,
                                    reference_labels, show_image)

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
    """Rows: model / schedule / T_0; columns: T_K ascending; each cell the first images of shard 0."""
    temps = sorted(runs["params_TK"].dropna().unique())
    rows = list(dict.fromkeys(zip(runs["curve"], runs["T0_label"])))
    fig, axes = plt.subplots(len(rows), len(temps), figsize=(2.3 * len(temps), 2.5 * len(rows)), squeeze=False)
    shown = 0
    for r, (curve, t0) in enumerate(rows):
        for c, TK in enumerate(temps):
            ax = axes[r][c]
            match = runs[(runs["curve"] == curve) & (runs["T0_label"] == t0) & (runs["params_TK"] == TK)]
            images = first_images(ctx.run_dir(match["run_id"].iloc[0]), SHOWN) if len(match) else None
            if images is None:
                ax.axis("off")
                if len(match):
                    ctx.note(f"temperature: run {match['run_id'].iloc[0]} has no shard; its cell is empty")
                continue
            show_image(ax, image_grid(images), f"$T_K$ = {label(TK)}")
            shown += 1
            if c == 0:
                ax.set_ylabel(f"{curve}\n$T_0$ = {t0}", fontsize=8)
    if not shown:
        plt.close(fig)
        return []
    fig.tight_layout()
    return ctx.save_figure(fig, "temperature-samples")


def metric_curves(ctx: Context, runs: pd.DataFrame, metrics: list[str]) -> list[Path]:
    """One panel per metric: value vs T_K, one line per model / schedule, line style per T_0 when several exist."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.8 * len(metrics), 3.2), squeeze=False)
    t0s = list(dict.fromkeys(runs["T0_label"]))
    styles, markers = ["-", "--", ":", "-."], ["o", "s", "^", "D"]
    curves = list(dict.fromkeys(runs["curve"]))
    colors = plt.get_cmap("tab10")
    floors = read_floors(ctx.tables_dir)
    for ax, metric in zip(axes[0], metrics):
        for i, curve in enumerate(curves):
            for j, t0 in enumerate(t0s):
                part = runs[(runs["curve"] == curve) & (runs["T0_label"] == t0)].sort_values("params_TK")
                if part.empty:
                    continue
                name = curve if len(t0s) == 1 else f"{curve}, $T_0$={t0}"
                bounds, y = interval_columns(part, metric), part[metric].to_numpy(float)
                yerr = None if bounds is None else np.nan_to_num(np.clip([y - bounds[0], bounds[1] - y], 0, None))
                ax.errorbar(part["params_TK"].to_numpy(float), part[metric].to_numpy(float), yerr=yerr,
                            color=colors(i % 10), ls=styles[j % len(styles)], marker=markers[j % len(markers)], ms=4,
                            capsize=2, label=name)
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        n = runs["n_images"].iloc[0] if "n_images" in runs.columns and runs["n_images"].nunique() == 1 else None
        draw_floor(ax, floors, metric, n, reference_labels(ctx, runs, metric))
        ax.set_xlabel(axis_label("params_TK"))
        ax.set_ylabel(metric_label(metric))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return ctx.save_figure(fig, "temperature")


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
