"""Cross-compatibility: model family (VP/VE/IADB/oracle) x sampler heatmap annotated with FID (and confident share).

A cell holds the family's runs under that sampler; with several runs (models, schedules) the one with the lowest
FID is shown and the table names it. A cell whose runs all diverged reads "div"; a missing combination is blank.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rwbench.figures.common import CONFIDENT, Context, SkipFigure, family_key, first_present, interval_bounds, metric_label

DIV = "div"


def cells(runs: pd.DataFrame, confident: str | None) -> pd.DataFrame:
    """One row per (row label, sampler): n_runs, chosen run (lowest finite FID), its FID / confident share, all diverged."""
    datasets = runs["dataset"].astype(str).unique() if "dataset" in runs.columns else ["-"]
    runs = runs.copy()
    runs["row"] = runs["family"].astype(str)
    if len(datasets) > 1:
        runs["row"] = runs["family"].astype(str) + " (" + runs["dataset"].astype(str) + ")"
    out = []
    metrics = ["fid"] + ([confident] if confident else [])
    for (row, sampler), part in runs.groupby(["row", "sampler"], sort=False):
        ok = part[~part["diverged_run"] & np.isfinite(part["fid"].astype(float))]
        best = ok.loc[ok["fid"].astype(float).idxmin()] if len(ok) else None
        bounds = {}
        for m in metrics:      # the chosen run's 95 % interval, printed under its value
            b = interval_bounds(best, m) if best is not None else None
            bounds[f"{m}_ci_lo"], bounds[f"{m}_ci_hi"] = b if b else (math.nan, math.nan)
        out.append({"row": row, "family": part["family"].iloc[0], "sampler": sampler, "n_runs": len(part),
                    "n_diverged": int(part["diverged_run"].sum()), "diverged": bool(part["diverged_run"].all()),
                    "run_id": best["run_id"] if best is not None else "",
                    "fid": float(best["fid"]) if best is not None else math.nan,
                    **({confident: float(best[confident]) if best is not None else math.nan} if confident else {}),
                    **bounds})
    return pd.DataFrame(out)


def _heatmap(ax, table: pd.DataFrame, rows: list[str], cols: list[str], metric: str, title: str, lower_better: bool):
    values = np.full((len(rows), len(cols)), np.nan)
    text = np.full((len(rows), len(cols)), "", dtype=object)
    for _, cell in table.iterrows():
        i, j = rows.index(cell["row"]), cols.index(cell["sampler"])
        if cell["diverged"]:
            text[i, j] = DIV
        elif np.isfinite(cell[metric]):
            values[i, j] = cell[metric]
            text[i, j] = f"{cell[metric]:.3g}"
            lo, hi = cell.get(f"{metric}_ci_lo", math.nan), cell.get(f"{metric}_ci_hi", math.nan)
            if np.isfinite(lo) and np.isfinite(hi):
                text[i, j] += f"\n[{lo:.3g}, {hi:.3g}]"
        else:
            text[i, j] = "n/a"
    shown = np.log10(np.clip(values, 1e-12, None)) if metric == "fid" else values
    cmap = plt.get_cmap("viridis_r" if lower_better else "viridis").with_extremes(bad="#dddddd")
    finite = shown[np.isfinite(shown)]
    norm = plt.Normalize(finite.min(), finite.max()) if finite.size else plt.Normalize(0.0, 1.0)
    ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, norm=norm, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            r, g, b, _ = cmap(norm(shown[i, j])) if np.isfinite(shown[i, j]) else (0.87, 0.87, 0.87, 1.0)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # white text on dark cells
            ax.text(j, i, text[i, j], ha="center", va="center", fontsize=7,
                    color="white" if dark else "black", fontweight="bold" if text[i, j] == DIV else None)
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("sampler [name]")
    ax.set_ylabel("model family [name]")
    ax.grid(False)
    ax.set_title(title, fontsize=9)


def build(ctx: Context) -> list[Path]:
    """Heatmap(s) of the `cross` runs and the per-cell table."""
    runs = ctx.figure_runs("cross")
    if "fid" not in runs.columns:
        raise SkipFigure("the cross runs have no fid values")
    confident = first_present(runs, CONFIDENT)
    table = cells(runs, confident)
    rows = sorted(table["row"].unique(), key=lambda r: family_key(r.split(" (")[0]) + (r,))
    cols = sorted(table["sampler"].astype(str).unique())
    panels = [("fid", f"{metric_label('fid')} [95 % interval] (lower is better; colour log scale)", True)]
    if confident and np.isfinite(table[confident].astype(float)).any():
        panels.append((confident, f"{metric_label(confident)} [95 % interval] (higher is better)", False))
    fig, axes = plt.subplots(1, len(panels), figsize=(min(1.0 + 1.2 * len(cols) * len(panels), 15.5),
                                                      0.6 + 0.7 * len(rows) + 1.2),
                             squeeze=False)
    for ax, (metric, title, lower) in zip(axes[0], panels):
        _heatmap(ax, table, rows, cols, metric, title, lower)
    fig.tight_layout()
    return ctx.save_figure(fig, "cross", draws=[m for m, _, _ in panels]) + ctx.save_table(table, "cross")
