"""VE-score vs VP-eps samples (paper Fig. 1 style): sample grids of the `ve-vs-vp` runs side by side, sampler labelled."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rwbench.figures.common import (SHOWN, Context, SkipFigure, family_key, first_images, image_grid, image_panels,
                                    label, metric_points, metric_table, present_metrics)

METRICS = ["energy_distance", "fid", "kid_mean", "confident_share", "class_entropy"]


def build(ctx: Context) -> list[Path]:
    """One panel per run (families ordered VE, VP, ...), titled model family, model, sampler and schedule."""
    runs = ctx.figure_runs("ve-vs-vp")
    first = {"ve": 0, "vp": 1}
    order = sorted(range(len(runs)), key=lambda i: (first.get(str(runs.loc[i, "family"]), 2),
                                                    family_key(runs.loc[i, "family"]), str(runs.loc[i, "sampler"]),
                                                    str(runs.loc[i, "run_id"])))
    runs = runs.loc[order].reset_index(drop=True)
    grids, kept = [], []
    for _, row in runs.iterrows():
        images = first_images(ctx.run_dir(row["run_id"]), SHOWN)
        if images is None:
            ctx.note(f"ve-vs-vp: run {row['run_id']} has no shard; left out")
            continue
        grids.append(image_grid(images))
        kept.append(row)
    if not grids:
        raise SkipFigure("no shard files for the ve-vs-vp runs")
    titles = [f"{str(row['family']).upper()}: {row['model']}\nsampler {row['sampler']} ({row.get('sampler_kind', '-')})"
              f"\n{row.get('schedule', '-')}, K={label(row.get('steps'))}" for row in kept]
    written = image_panels(ctx, grids, titles, "ve-vs-vp", "VE score vs VP eps model under the same random walk")
    written += metric_points(ctx, pd.DataFrame(kept), present_metrics(runs, METRICS), "model", "ve-vs-vp-metrics")
    table = metric_table(pd.DataFrame(kept), ["family", "model", "sampler", "sampler_kind", "schedule", "steps",
                                              "params_c", "params_T0"], present_metrics(runs, METRICS))
    return written + ctx.save_table(table, "ve-vs-vp")
