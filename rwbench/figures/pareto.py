"""The oracle Pareto front (`rwbench pareto`; table from rwbench.analysis.pareto): energy distance to exact draws and
variance ratio against the NFE budget, one line per sampler and setting (colour and marker: the sampler's,
rwbench.figures.style; line style: the walk's setting), 95 % intervals on every point, the exact-draw band shaded,
log x; and the sample grids of every sampler at two budgets, same seeds (image i of every cell comes from seed
(seed, uncond, i) and the same exact start)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from rwbench.figures import style
from rwbench.figures.common import Context, first_images, image_grid, show_montage
from rwbench.figures.labels import axis_label
from rwbench.metrics.registry import metric_label

NAME, SAMPLES = "pareto", "pareto-samples"     # the figure table's SCALESPACE-like row PARETO (rwbench.plan.figures)
PANELS = (("ed", "ed_lo", "ed_hi", "ed_band", "energy_distance"),
          ("variance_ratio", "vr_lo", "vr_hi", "vr_band", "variance_ratio"))
SETTING_STYLES = {"shipped": "-", "paper": "--", "tuned": ":"}   # the walk's settings; other lines solid
SHOWN = 8                                                        # images per row of the sample grids
DODGE = 0.01                                                     # log10 shift between neighbouring lines
TITLES = {"energy_distance": "energy distance to exact draws", "variance_ratio": "variance ratio E|x - mu|^2 / tr Sigma"}


def line_style(setting: str):
    """The walk's settings by line style (others solid)."""
    return SETTING_STYLES.get(setting, "-")


def _lines(frame: pd.DataFrame):
    return frame.groupby(["sampler", "setting"], sort=False)


def _band(ax, part: pd.DataFrame, column: str) -> None:
    """Shade each distinct band (one per n)."""
    bands = part[[f"{column}_lo", f"{column}_hi", "n"]].dropna().drop_duplicates([f"{column}_lo", f"{column}_hi"])
    for row in bands.itertuples(index=False):
        ax.axhspan(row[0], row[1], color=style.FLOOR_COLOR, alpha=0.3, lw=0, zorder=0)


def draw_front(frame: pd.DataFrame):
    """The figure: one panel per metric (energy distance, variance ratio) against NFE."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2), squeeze=False)
    for ax, (value, lo, hi, band, metric) in zip(axes[0], PANELS):
        _band(ax, frame, band)
        lines = _lines(frame)
        for i, ((sampler, setting), part) in enumerate(lines):
            # each line a little apart on the log axis (DODGE per line) so that intervals at one budget stay apart
            x = part["nfe"].to_numpy(float) * 10 ** (DODGE * (i - (lines.ngroups - 1) / 2))
            y = part[value].to_numpy(float)
            err = np.vstack([y - part[lo].to_numpy(float), part[hi].to_numpy(float) - y]).clip(min=0)
            ax.errorbar(x, y, yerr=np.nan_to_num(err), color=style.sampler_color(sampler),
                        marker=style.sampler_marker(sampler), ms=3.5, capsize=2, lw=1.1, ls=line_style(setting))
            if setting == "tuned" and metric == "energy_distance":
                for xi, yi, text in zip(x, y, part["label"]):
                    ax.annotate(text.replace(", ", "\n", 1), (xi, yi), fontsize=5, xytext=(3, 4),
                                textcoords="offset points", color=style.sampler_color(sampler))
        if metric == "variance_ratio":
            ax.axhline(1.0, color="0.2", lw=0.8, ls=(0, (2, 2)), zorder=1)
        values = frame[[value, lo, hi]].to_numpy(float)
        finite = values[np.isfinite(values)]
        if metric == "energy_distance":
            ax.set_yscale("symlog", linthresh=0.01, linscale=0.6)   # the U-statistic dips below 0 near exact samplers
        elif finite.size and finite.min() > 0 and finite.max() / finite.min() > 5:
            ax.set_yscale("log")
        ax.set_xscale("log")
        ticks = sorted({int(v) for v in frame["nfe"]})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(axis_label("nfe"))
        ax.set_ylabel(metric_label(metric))
        ax.set_title(f"{TITLES[metric]} against NFE")
    samplers = list(dict.fromkeys(frame["sampler"]))
    handles = [Line2D([], [], color=style.sampler_color(s), marker=style.sampler_marker(s), ls="-", label=s)
               for s in samplers]
    walk_settings = [s for s in dict.fromkeys(frame.loc[frame["sampler"] == "simplified", "setting"])]
    handles += [Line2D([], [], color="0.3", ls=line_style(s), label=f"walk: {s}") for s in walk_settings]
    ns = sorted({int(n) for n in frame["n"]})
    handles.append(Patch(color=style.FLOOR_COLOR, alpha=0.3,
                         label=f"exact draws (mean +- sd, n = {', '.join(map(str, ns))})"))
    handles.append(Line2D([], [], color="0.2", lw=0.8, ls=(0, (2, 2)), label="exact variance ratio 1"))
    fig.legend(handles=handles, fontsize=6, loc="outside right center", title="sampler; walk setting",
               title_fontsize=6)
    fig.set_layout_engine("constrained")
    return fig


def draw_samples(ctx: Context, frame: pd.DataFrame, budgets, shown: int = SHOWN):
    """One panel per budget: a montage whose rows are the samplers (and walk settings) at that budget, their first
    `shown` images; None when no run has shards."""
    panels = []
    for budget in budgets:
        part = frame[frame["nfe"] == int(budget)]
        tiles, labels = [], []
        for row in part.itertuples(index=False):
            run = str(row.run_ids).split(";")[0]
            images = first_images(ctx.run_dir(run), shown)
            if images is None:
                ctx.note(f"{SAMPLES}: {run} has no shard; its row is left out")
                continue
            tiles.append([image_grid(images, nrow=len(images), pad=0)])
            labels.append(f"{row.sampler} ({row.setting}), {row.label}")
        if tiles:
            panels.append((budget, tiles, labels))
    if not panels:
        return None
    rows = max(len(t) for _, t, _ in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(min(5.2 * len(panels), style.MAX_WIDTH_IN - 1), 0.5 * rows + 1),
                             squeeze=False)
    for ax, (budget, tiles, labels) in zip(axes[0], panels):
        show_montage(ax, tiles, (), labels, f"NFE {budget}: images 0-{shown - 1} of every cell", fontsize=6)
    fig.set_layout_engine("constrained")
    return fig


def build(ctx: Context, frame: pd.DataFrame, samples_nfe=(), shown: int = SHOWN) -> list[Path]:
    """Write <out>/figures/pareto.{fmt} with its table (<out>/tables/pareto.csv/.md/.html: the points drawn) and, when
    `samples_nfe` names budgets of the front, <out>/figures/pareto-samples.{fmt}."""
    if frame.empty:
        raise ValueError("pareto: the front has no rows to draw")
    written = ctx.save_figure(draw_front(frame), NAME, draws=[p[-1] for p in PANELS])
    drawn = ["sampler", "setting", "nfe", "label", "ed", "ed_lo", "ed_hi", "ed_band_lo", "ed_band_hi",
             "variance_ratio", "vr_lo", "vr_hi", "vr_band_lo", "vr_band_hi", "n", "in_band", "band_nfe"]
    view = frame[drawn].copy()
    for col in view.columns:
        if view[col].dtype.kind == "f" and col not in ("nfe", "band_nfe"):
            view[col] = view[col].map(lambda v: f"{v:.4g}" if math.isfinite(v) else "")
    written += ctx.save_table(frame[drawn], NAME, markdown=view)
    budgets = [b for b in samples_nfe if int(b) in set(frame["nfe"].astype(int))]
    missing = [b for b in samples_nfe if b not in budgets]
    if missing:
        ctx.note(f"{SAMPLES}: budgets {missing} are not on the front ({sorted(set(frame['nfe']))})")
    if samples_nfe:
        fig = draw_samples(ctx, frame, budgets, shown) if budgets else None
        if fig is None:     # a declared output of the rule: write it, saying why it is empty
            fig, ax = plt.subplots(figsize=(4.0, 1.5))
            ax.axis("off")
            ax.text(0.5, 0.5, "no sample shards for these budgets", ha="center", fontsize=8)
        written += ctx.save_figure(fig, SAMPLES)
    return written


__all__ = ["NAME", "SAMPLES", "SETTING_STYLES", "line_style", "draw_front", "draw_samples", "build"]
