"""Inverse-problem figure (paper Fig. 4): per task, rows of measurement | samples | mean of N | ground truth with PSNR.

PSNR is the standard one (rwbench.metrics.image_quality.psnr: clip to [0, 1], peak 1) against the ground truth.
The measurement is mapped from the model's data scale to [0, 1] with the spec's data_range and, when smaller
than the image (super-resolution), upsampled by nearest-neighbour repetition for display and for its PSNR.
The mean of N averages every finite sample of that target over all shards.
Runs of different measurement noise are never shown unmarked side by side: every row names its eta (and its step_scale
when that is not the published 1), and the summary has one panel row per (task, eta), titled "task, eta = 0.05".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from rwbench.figures.common import (Context, SkipFigure, data_range, eta_of, eta_text, inverse_axes_text, metric_table,
                                    present_metrics, show_image, step_scale_of, step_scale_text, unit_image)
from rwbench.run.rundir import load_shard, shard_files

N_SAMPLES = 3  # single samples shown per target
N_TARGETS = 1  # targets (rows) shown per run


@dataclass
class TargetPanels:
    """Images of one target collected over a run's shards (all on [0, 1] except the raw measurement)."""

    target: int
    ground_truth: torch.Tensor | None = None
    measurement: torch.Tensor | None = None
    samples: list = field(default_factory=list)
    total: torch.Tensor | None = None
    count: int = 0


def collect(run_dir: Path, n_targets: int = N_TARGETS, n_samples: int = N_SAMPLES) -> list[TargetPanels]:
    """Ground truth, measurement, first samples and the sum of finite samples of the run's first targets."""
    files = shard_files(run_dir)
    if not files:
        return []
    first = load_shard(files[0])
    for key in ("sample", "ground_truth", "target"):
        if key not in first:
            raise ValueError(f"{files[0]}: inverse-task shard lacks {key!r} (see docs/run-layout.md)")
    chosen = sorted(set(first["target"].tolist()))[:n_targets]
    panels = {t: TargetPanels(t) for t in chosen}
    for i, path in enumerate(files):
        shard = first if i == 0 else load_shard(path)
        order = torch.argsort(shard["index"]) if "index" in shard else torch.arange(len(shard["target"]))
        for j in order.tolist():
            t = int(shard["target"][j])
            if t not in panels:
                continue
            p = panels[t]
            x = shard["sample"][j].to(torch.float64)
            if p.ground_truth is None:
                p.ground_truth = shard["ground_truth"][j].to(torch.float64)
                p.measurement = shard["measurement"][j].to(torch.float64) if "measurement" in shard else None
            if len(p.samples) < n_samples:
                p.samples.append(x)
            diverged = bool(shard["diverged"][j]) if "diverged" in shard else False
            if not diverged and torch.isfinite(x).all():
                p.total = x.clone() if p.total is None else p.total + x
                p.count += 1
    return [panels[t] for t in chosen]


def measurement_image(y: torch.Tensor | None, lo: float, hi: float, like: torch.Tensor) -> torch.Tensor | None:
    """Measurement on [0, 1] at the image's size (nearest-neighbour upsampling), or None if it is not an image."""
    if y is None or y.ndim != 3 or y.shape[0] != like.shape[0]:
        return None
    unit = (y - lo) / (hi - lo)
    if tuple(unit.shape[-2:]) != tuple(like.shape[-2:]):
        unit = torch.nn.functional.interpolate(unit[None], size=tuple(like.shape[-2:]), mode="nearest")[0]
    return unit


def psnr(x: torch.Tensor, gt: torch.Tensor) -> float:
    """Standard PSNR of one [C, H, W] image against the ground truth (NaN for non-finite images)."""
    from rwbench.metrics.image_quality import psnr as batch_psnr

    if not torch.isfinite(x).all():
        return math.nan
    return float(batch_psnr(x[None], gt[None])[0])


def task_figure(ctx: Context, task: str, runs: pd.DataFrame) -> list[Path]:
    """One figure and table for one task; one row of panels per (run, target)."""
    rows = []
    for _, run in runs.iterrows():
        panels = collect(ctx.run_dir(run["run_id"]))
        if not panels:
            ctx.note(f"inverse: run {run['run_id']} has no shard; left out")
        rows += [(run, p) for p in panels]
    if not rows:
        return []
    n_cols = 3 + max(len(p.samples) for _, p in rows)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.7 * n_cols, 2.1 * len(rows) + 0.3), squeeze=False,
                             layout="constrained")
    records = []
    for r, (run, p) in enumerate(rows):
        lo, hi = data_range(run)
        gt = p.ground_truth
        cells = [("measurement", measurement_image(p.measurement, lo, hi, gt), 1)]
        cells += [(f"sample {i + 1}", p.samples[i], 1) if i < len(p.samples) else ("", None, 0)
                  for i in range(n_cols - 3)]
        cells += [(f"mean of {p.count}", p.total / p.count if p.count else None, p.count), ("ground truth", gt, 1)]
        for c, (name, image, n) in enumerate(cells):
            ax = axes[r][c]
            if not name:
                ax.axis("off")
                continue
            value = psnr(image, gt) if image is not None and name != "ground truth" else math.nan
            if image is None:
                ax.axis("off")
                ax.set_title(f"{name}\nn/a", fontsize=8)
            else:
                finite = bool(torch.isfinite(image).all())
                text = name if name == "ground truth" else (f"{name}\n{value:.2f} dB" if finite else f"{name}\ndiverged")
                show_image(ax, unit_image(image), text)
            records.append({"task": task, "eta": eta_of(run), "run_id": run["run_id"], "model": run.get("model"),
                            "sampler": run.get("sampler"), "step_scale": step_scale_of(run), "target": p.target,
                            "panel": name, "psnr": value, "n": n})
        # each row names its eta (rows of several noise levels share a figure) and a step_scale off the published 1
        axes[r][0].set_ylabel("\n".join(t for t in (str(run.get("model")), str(run.get("sampler")),
                                                     inverse_axes_text(run)) if t), fontsize=8)
        axes[r][0].axis("on")
        axes[r][0].set_xticks([])
        axes[r][0].set_yticks([])
    etas = {eta_of(run) for run, _ in rows}
    where = f", {eta_text(next(iter(etas)))}" if len(etas) == 1 and None not in etas else ", rows of several eta"
    fig.suptitle(f"{task}{where}: PSNR vs ground truth (standard, clip to [0, 1])", fontsize=9)
    table = pd.DataFrame(records)
    return ctx.save_figure(fig, f"inverse-{task}") + ctx.save_table(table, f"inverse-{task}")


def build(ctx: Context) -> list[Path]:
    """One figure per task of the `inverse` runs."""
    runs = ctx.figure_runs("inverse")
    if "task" not in runs.columns:
        raise SkipFigure("the inverse runs have no task column")
    runs = runs[runs["task"].astype(str) != "uncond"]
    if runs.empty:
        raise SkipFigure("the inverse runs are all unconditional")
    written = []
    order = runs.assign(_eta=[eta_of(row) for _, row in runs.iterrows()])
    for task, part in order.sort_values(["task", "_eta", "model", "sampler", "run_id"]).groupby("task", sort=True):
        written += task_figure(ctx, str(task), part)
    if not written:
        raise SkipFigure("no shard files for the inverse runs")
    return written + summary_figure(ctx, runs)


SUMMARY = ("psnr", "psnr_mean_of_samples", "ssim")


def cluster_intervals(ctx: Context, runs: pd.DataFrame) -> pd.DataFrame:
    """psnr / ssim of single samples with 95 % intervals clustered by target (rwbench.metrics.intervals.cluster_mean: t with
    targets - 1 df for few targets), from each run's metrics-per-image.csv; written as <m>_ci_lo / <m>_ci_hi."""
    from rwbench.metrics import intervals as iv

    runs = runs.copy()
    for i, row in runs.iterrows():
        path = ctx.run_dir(row["run_id"]) / "metrics-per-image.csv"
        if not path.is_file():
            continue
        per_image = pd.read_csv(path)
        for metric in ("psnr", "ssim"):
            if metric not in per_image.columns:
                continue
            ok = per_image[metric].notna() & per_image[metric].map(math.isfinite)
            if per_image.loc[ok, "target"].nunique() < 2:
                continue
            got = iv.cluster_mean(per_image.loc[ok, metric], per_image.loc[ok, "target"])
            runs.loc[i, [metric, f"{metric}_ci_lo", f"{metric}_ci_hi"]] = [got.estimate, got.lo, got.hi]
    return runs


def cell_label(row) -> str:
    """x label of a summary cell: model / sampler, and its step_scale when not the published 1."""
    scale = step_scale_text(row)
    return f"{row['model']} / {row['sampler']}" + (f" ({scale})" if scale else "")


def panel_rows(runs: pd.DataFrame) -> list[tuple[str, float | None]]:
    """(task, eta) of each panel row of the summary, in config order: cells of different eta never share a panel."""
    return list(dict.fromkeys((str(row["task"]), eta_of(row)) for _, row in runs.iterrows()))


def summary_figure(ctx: Context, runs: pd.DataFrame) -> list[Path]:
    """inverse.{png,pdf}: PSNR of single samples and of the mean of N, SSIM, with 95 % intervals over targets; one
    row per (task, eta) titled with both, x = model / sampler (step_scale) in config order."""
    from rwbench.figures.common import interval_errors, metric_label

    runs = cluster_intervals(ctx, runs)
    metrics = present_metrics(runs, SUMMARY)
    if not metrics:
        return []
    keys = [k for k in ("task", "task_params_eta", "model", "sampler", "params_step_scale") if k in runs.columns]
    runs["cell"] = [cell_label(row) for _, row in runs.iterrows()]
    cells = list(dict.fromkeys(runs["cell"]))
    panels = panel_rows(runs)
    fig, axes = plt.subplots(len(panels), len(metrics), figsize=(max(3.4, 0.8 * len(cells) + 1.6) * len(metrics),
                                                                 3.0 * len(panels)), squeeze=False)
    for r, (task, eta) in enumerate(panels):
        part = runs[[(str(row["task"]), eta_of(row)) == (task, eta) for _, row in runs.iterrows()]]
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            for _, row in part.iterrows():
                ax.errorbar([cells.index(row["cell"])], [row[metric]], yerr=interval_errors(row, metric), fmt="o",
                            ms=4, capsize=3, color=f"C{cells.index(row['cell']) % 10}")
            ax.set_xticks(range(len(cells)), cells, rotation=25, ha="right", fontsize=7)
            ax.set_ylabel(metric_label(metric), fontsize=8)
            ax.set_title(", ".join(t for t in (task, eta_text(eta)) if t), fontsize=9)
            ax.grid(alpha=0.3, axis="y")
    fig.suptitle("inverse problems: 95 % intervals over targets (t with targets - 1 df)", fontsize=9)
    fig.tight_layout()
    cols = [f"{m}{b}" for m in metrics for b in ("", "_ci_lo", "_ci_hi", "_ci95_lo", "_ci95_hi", "_se")]
    table = metric_table(runs, keys, [c for c in cols if c in runs.columns])
    return ctx.save_figure(fig, "inverse") + ctx.save_table(table, "inverse")
