"""Schedule figure (paper Fig. 2): sigma_k vs k on a log axis per ladder, plus sample grids of the `schedules` runs."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rwbench.figures import style
from rwbench.figures.common import (SHOWN, Context, SkipFigure, first_images, image_grid, image_panels, label,
                                    metric_points, metric_table, present_metrics)

TABLE_COLUMNS = ["schedule", "K", "k", "sigma"]
METRICS = ["energy_distance", "fid", "kid_mean", "confident_share", "class_entropy"]
MD_POINTS = 11  # the markdown view lists the rows nearest u = k/(K-1) = 0, 0.1, ..., 1


def ladder_plot(ctx: Context, table: pd.DataFrame) -> list[Path]:
    """sigma_k vs k (log y), one line per schedule, one panel per K."""
    steps = sorted(table["K"].unique())[:style.MAX_PANELS]
    colors = style.series_colors(table["schedule"].astype(str))
    fig, axes = plt.subplots(1, len(steps), figsize=(min(4.5 * len(steps), style.MAX_WIDTH_IN), 3.4), squeeze=False)
    for ax, K in zip(axes[0], steps):
        part = table[table["K"] == K]
        for name, rows in part.groupby("schedule", sort=False):
            ax.plot(rows["k"], rows["sigma"], label=str(name), lw=1.5, color=colors[str(name)])
        ax.set_yscale("log")
        ax.set_xlabel("iteration k [step]")
        ax.set_ylabel(r"noise level $\sigma_k$ [data scale]")
        ax.set_title(f"noise ladders with K = {K} iterations")
        ax.legend(fontsize=7, title="noise ladder", title_fontsize=7)
    fig.tight_layout()
    written = ctx.save_figure(fig, "schedules")
    picks = []
    for _, part in table.groupby(["schedule", "K"], sort=False):
        part = part.sort_values("k")
        at = np.unique(np.round(np.linspace(0, len(part) - 1, min(MD_POINTS, len(part)))).astype(int))
        picks.append(part.iloc[at])
    markdown = pd.concat(picks)  # the markdown view: about 11 evenly spaced k per ladder; the CSV has every k
    return written + ctx.save_table(table, "schedules", markdown=markdown)


def sample_grids(ctx: Context, runs: pd.DataFrame) -> list[Path]:
    """One grid of the first images of shard 0 per `schedules` run, ordered by schedule."""
    runs = runs.sort_values(["schedule", "model", "run_id"], key=lambda s: s.astype(str)).reset_index(drop=True)
    grids, kept = [], []
    for _, row in runs.iterrows():
        images = first_images(ctx.run_dir(row["run_id"]), SHOWN)
        if images is None:
            ctx.note(f"schedules: run {row['run_id']} has no shard; left out of the sample grids")
            continue
        grids.append(image_grid(images))
        kept.append(row)
    if not grids:
        return []
    titles = [f"{row['schedule']} (K={label(row.get('steps'))})\n{row['model']} / {row['sampler']}" for row in kept]
    written = image_panels(ctx, grids, titles, "schedules-samples", "samples per noise ladder (first images of each run)")
    written += metric_points(ctx, pd.DataFrame(kept), present_metrics(runs, METRICS), "schedule", "schedules-metrics",
                             hue="model")
    table = metric_table(pd.DataFrame(kept), ["schedule", "model", "sampler", "steps", "params_c", "params_T0",
                                              "params_TK"], present_metrics(runs, METRICS))
    return written + ctx.save_table(table, "schedules-samples")


def build(ctx: Context) -> list[Path]:
    """Ladder plot from <tables>/schedules.csv and sample grids of the `schedules` runs (either part may be absent)."""
    written = []
    path = ctx.tables_dir / "schedules.csv"
    if path.is_file():
        table = pd.read_csv(path)
        missing = [c for c in TABLE_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; regenerate it with `rwbench schedules`")
        written += ladder_plot(ctx, table)
    else:
        ctx.note(f"schedules: {path} absent (run `rwbench schedules`); ladder plot skipped")
    runs = ctx.figure_runs("schedules", required=False)
    if runs.empty:
        ctx.note("schedules: no runs with figure == 'schedules'; sample grids skipped")
    else:
        written += sample_grids(ctx, runs)
    if not written:
        raise SkipFigure(f"neither {path} nor any run with figure == 'schedules'")
    return written
