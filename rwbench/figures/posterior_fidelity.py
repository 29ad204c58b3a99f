"""Figures of posterior fidelity (issue 26; tables from rwbench.analysis.posterior_fidelity):

- `calibration-curves`: coverage minus the curve N exact draws reach, against the nominal level, per sampler (mean over
  cells and targets, 95 % t band over the (cell x target) clusters): per pixel, on random projections and on the exact
  posterior's principal directions (oracle cells at their published step size, against exact draws), and per pixel
  against the ground truth (learned models; reference: N exact draws of near-Gaussian marginals).
- `posterior-fidelity`: accuracy against fidelity per cell, one colour per sampler: PSNR vs the calibration gap and vs
  the energy distance to exact draws (oracle), the score-KSD vs that distance (its validation), PSNR vs score-KSD
  (learned models, where the KSD is the only posterior-fidelity number). Error bars: 95 % intervals over targets.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from rwbench.io import atomic_path  # noqa: E402
from rwbench.metrics import intervals as iv  # noqa: E402
from rwbench.plan.figures import FIDELITY_FIGURES, FORMATS  # noqa: E402

DPI = 150


def _palette(samplers) -> dict:
    names = sorted(set(samplers))
    return dict(zip(names, sns.color_palette("tab10", len(names))))


def _save(fig, out: Path, stem: str) -> list[Path]:
    written = []
    try:
        for fmt in FORMATS:
            path = Path(out) / f"{stem}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.05)
            written.append(path)
    finally:
        plt.close(fig)
    return written


def curve_summary(curves: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Mean of (coverage - reference) per (against, basis, sampler, level) over the sampler draws' rows of the chosen
    cells (oracle: step_scale 1; every cell for the ground truth), with the 95 % t interval over (cell x target)."""
    if curves.empty:
        return pd.DataFrame(columns=["against", "basis", "sampler", "level", "gap", "lo", "hi", "clusters"])
    cells = table.set_index("run_id")
    rows = curves[curves["draws"] == "sampler"].copy()
    rows = rows[rows["run_id"].isin(cells.index)]
    rows["sampler"] = cells.loc[rows["run_id"], "sampler"].to_numpy()
    rows["step_scale"] = cells.loc[rows["run_id"], "step_scale"].to_numpy(float)
    rows["oracle"] = (cells.loc[rows["run_id"], "coverage_against"] == "exact draws").to_numpy()
    rows = rows[(rows["step_scale"] == 1) & ((rows["against"] == "exact") | ~rows["oracle"])]
    rows["gap"] = rows["coverage"] - rows["reference"]
    out = []
    for (against, basis, sampler, level), group in rows.groupby(["against", "basis", "sampler", "level"]):
        g = group["gap"].to_numpy(float)
        g = g[np.isfinite(g)]
        if len(g) < 2:
            continue
        got = iv.t_interval(float(g.mean()), float(g.std(ddof=1) / math.sqrt(len(g))), len(g) - 1, len(g))
        out.append({"against": against, "basis": basis, "sampler": sampler, "level": level, "gap": got.estimate,
                    "lo": got.lo, "hi": got.hi, "clusters": len(g)})
    return pd.DataFrame(out)


PANELS = [("exact", "pixel", "pixels, vs exact draws (oracle)"),
          ("exact", "random", "random projections, vs exact draws (oracle)"),
          ("exact", "principal", "posterior principal directions, vs exact draws (oracle)"),
          ("truth", "pixel", "pixels, vs the ground truth (learned models)")]


def draw_curves(summary: pd.DataFrame):
    """2 x 2 panels of calibration curves (PANELS)."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    colours = _palette(summary["sampler"]) if len(summary) else {}
    for ax, (against, basis, title) in zip(axes.flat, PANELS):
        part = summary[(summary["against"] == against) & (summary["basis"] == basis)] if len(summary) else summary
        for sampler, group in part.groupby("sampler") if len(part) else []:
            group = group.sort_values("level")
            ax.plot(group["level"], group["gap"], marker="o", ms=3, color=colours[sampler], label=sampler)
            ax.fill_between(group["level"], group["lo"], group["hi"], color=colours[sampler], alpha=0.15, lw=0)
        ax.axhline(0, color="black", ls="--", lw=1, label="N exact draws")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("nominal credible level")
        ax.set_ylabel("coverage - N exact draws [fraction]")
        if not len(part):
            ax.text(0.5, 0.5, "no cells", ha="center", va="center", transform=ax.transAxes)
    handles, labels = {}, []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=min(7, len(handles)),
               frameon=False, bbox_to_anchor=(0.5, -0.04))
    fig.suptitle("Calibration curves (mean over cells and targets, 95 % band over (cell x target))", fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def _errors(frame: pd.DataFrame, column: str):
    lo, hi = frame.get(f"{column}_lo"), frame.get(f"{column}_hi")
    if lo is None or hi is None:
        return None
    v = frame[column].to_numpy(float)
    err = np.vstack([v - lo.to_numpy(float), hi.to_numpy(float) - v])
    return np.where(np.isfinite(err), np.clip(err, 0, None), 0)


def _scatter(ax, frame, x, y, colours, xerr=True, yerr=True):
    for sampler, group in frame.groupby("sampler"):
        ax.errorbar(group[x], group[y], xerr=_errors(group, x) if xerr else None,
                    yerr=_errors(group, y) if yerr else None, fmt="o", ms=4, lw=0.8, alpha=0.8,
                    color=colours[sampler], label=sampler)


def draw_fidelity(table: pd.DataFrame, validation: pd.DataFrame):
    """2 x 2 panels: accuracy against fidelity per cell (oracle and learned)."""
    colours = _palette(table["sampler"])
    oracle = table[table["coverage_against"] == "exact draws"]
    learned = table[table["coverage_against"] != "exact draws"].copy()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    ax = axes[0, 0]
    _scatter(ax, oracle, "psnr", "coverage_gap", colours)
    ax.axhline(0, color="black", ls="--", lw=1)
    ax.set_xlabel("PSNR of single draws [dB]")
    ax.set_ylabel("calibration gap vs N exact draws [fraction]")
    ax.set_title("oracle: accuracy vs calibration (< 0: over-confident)", fontsize=10)
    ax = axes[0, 1]
    _scatter(ax, oracle, "psnr", "energy_distance", colours)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("PSNR of single draws [dB]")
    ax.set_ylabel("energy distance to exact draws [[0, 1] pixel scale]")
    ax.set_title("oracle: accuracy vs distance to the exact posterior", fontsize=10)
    ax = axes[1, 0]
    _scatter(ax, oracle.assign(ksd_lo=oracle["ksd"] - 1.96 * oracle["ksd_se"],
                               ksd_hi=oracle["ksd"] + 1.96 * oracle["ksd_se"]), "energy_distance", "ksd", colours)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_yscale("symlog", linthresh=1.0)
    head = validation[validation["scope"] == "all oracle cells"]
    text = ""
    if len(head) and np.isfinite(head["spearman"].iloc[0]):
        r = head.iloc[0]
        text = f": Spearman {r['spearman']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}], {int(r['cells'])} cells"
    ax.set_xlabel("energy distance to exact draws [[0, 1] pixel scale]")
    ax.set_ylabel("score-KSD^2 [squared score units, model scale]")
    ax.set_title("oracle: score-KSD vs the exact distance" + text, fontsize=10)
    ax = axes[1, 1]
    if len(learned):
        learned["ksd_lo"], learned["ksd_hi"] = learned["ksd"] - 1.96 * learned["ksd_se"], learned["ksd"] + 1.96 * learned["ksd_se"]
        _scatter(ax, learned, "psnr", "ksd", colours)
        ax.set_yscale("symlog", linthresh=1.0)
    else:
        ax.text(0.5, 0.5, "no learned-model cells", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("PSNR of single draws [dB]")
    ax.set_ylabel("score-KSD^2 [squared score units, model scale]")
    ax.set_title("learned models: accuracy vs score-KSD", fontsize=10)
    handles = {}
    for a in axes.flat:
        for h, lab in zip(*a.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=min(7, len(handles)),
               frameon=False, bbox_to_anchor=(0.5, -0.03))
    fig.suptitle("Posterior fidelity against accuracy, one point per cell (95 % intervals over targets)", fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def build(table: pd.DataFrame, curves: pd.DataFrame, validation: pd.DataFrame, out: str | Path) -> dict:
    """Write <out>/calibration-curves.{png,pdf} and <out>/posterior-fidelity.{png,pdf}."""
    sns.set_theme(style="whitegrid", context="paper")
    written = {}
    curves_stem, fidelity_stem = FIDELITY_FIGURES                       # the stems the DAG declares
    written["calibration_curves"] = _save(draw_curves(curve_summary(curves, table)), Path(out), curves_stem)
    written["posterior_fidelity_figure"] = _save(draw_fidelity(table, validation), Path(out), fidelity_stem)
    return written


__all__ = ["build", "curve_summary", "draw_curves", "draw_fidelity", "PANELS"]
