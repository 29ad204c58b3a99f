"""Inverse-problem figures (paper Fig. 4): the overview (PSNR of single samples, one panel per task), and per task its
samples (one montage panel per model: rows of measurement | samples | mean of N | ground truth with PSNR) and its
metric panels (PSNR, PSNR of the mean of N, SSIM).

PSNR is the standard one (rwbench.metrics.image_quality.psnr: clip to [0, 1], peak 1) against the ground truth.
The measurement is mapped from the model's data scale to [0, 1] with the spec's data_range and, when smaller
than the image (super-resolution), upsampled by nearest-neighbour repetition for display and for its PSNR.
The mean of N averages every finite sample of that target over all shards.
Runs of different measurement noise are never shown unmarked side by side: every row names its eta (and its step_scale
when that is not the published 1), and the summaries' x categories are "model, eta = 0.05".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from rwbench.figures import style
from rwbench.figures.common import (Context, SkipFigure, data_range, eta_of, eta_text, inverse_axes_text, metric_table,
                                    montage, present_metrics, show_montage, step_scale_of, step_scale_text, unit_image)
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
    models = list(dict.fromkeys(str(run.get("model")) for run, _ in rows))[:style.MAX_PANELS]
    records, montages = [], {m: ([], [], []) for m in models}      # model -> (tile rows, row labels, PSNR texts)
    for run, p in rows:
        if str(run.get("model")) not in montages:
            continue
        tiles, labels, texts = montages[str(run.get("model"))]
        lo, hi = data_range(run)
        gt = p.ground_truth
        cells = [("measurement", measurement_image(p.measurement, lo, hi, gt), 1)]
        cells += [(f"sample {i + 1}", p.samples[i], 1) if i < len(p.samples) else ("", None, 0)
                  for i in range(n_cols - 3)]
        cells += [(f"mean of {p.count}", p.total / p.count if p.count else None, p.count), ("ground truth", gt, 1)]
        row, row_texts = [], []
        for name, image, n in cells:
            value = psnr(image, gt) if image is not None and name and name != "ground truth" else math.nan
            finite = image is not None and bool(torch.isfinite(image).all())
            row.append(unit_image(image) if finite else None)
            row_texts.append("" if name in ("", "ground truth") else
                             (f"{value:.1f} dB" if finite else ("diverged" if image is not None else "n/a")))
            if name:
                records.append({"task": task, "eta": eta_of(run), "run_id": run["run_id"], "model": run.get("model"),
                                "sampler": run.get("sampler"), "step_scale": step_scale_of(run), "target": p.target,
                                "panel": name, "psnr": value, "n": n})
        tiles.append(row)
        texts.append(row_texts)
        # each row names its sampler, its eta and a step_scale off the published 1
        labels.append(", ".join(t for t in (str(run.get("sampler")), inverse_axes_text(run)) if t))
    columns = ["measurement"] + [f"sample {i + 1}" for i in range(n_cols - 3)] + ["mean of N", "ground truth"]
    n_rows = max(len(v[0]) for v in montages.values())
    fig, axes = plt.subplots(1, len(models), figsize=(min((1.0 * n_cols + 1.6) * len(models), style.MAX_WIDTH_IN),
                                                      0.75 * n_rows + 1.4), squeeze=False)
    for ax, model in zip(axes[0], models):
        tiles, labels, texts = montages[model]
        show_montage(ax, tiles, columns, labels, f"{task}: {model}", fontsize=6)
        _, xs, ys = montage(tiles)
        for i, row_texts in enumerate(texts):
            for j, text in enumerate(row_texts):
                if text:
                    ax.text(xs[j], ys[i], text, ha="center", va="center", fontsize=5, color="yellow",
                            bbox={"facecolor": "black", "alpha": 0.45, "pad": 0.5, "lw": 0})
    fig.suptitle(f"{task}: samples, mean of N and PSNR against the ground truth (dB, clip to [0, 1])", fontsize=9)
    fig.tight_layout()
    table = pd.DataFrame(records)
    return ctx.save_figure(fig, f"inverse-{task}", draws=["psnr"]) + ctx.save_table(table, f"inverse-{task}")


def build(ctx: Context) -> list[Path]:
    """The overview (PSNR per task), then per task its samples figure and table and its metric panels."""
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
    return summary_figure(ctx, runs) + written


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
    """x category of a summary point: the model and the measurement noise (eta)."""
    return ", ".join(t for t in (str(row["model"]), eta_text(eta_of(row))) if t)


def hue_label(row) -> str:
    """Colour of a summary point: the sampler, and its step_scale when not the published 1."""
    scale = step_scale_text(row)
    return str(row["sampler"]) + (f" ({scale})" if scale else "")


def point_panels(ctx: Context, runs: pd.DataFrame, facets: list[tuple[str, str, str]], stem: str, title: str,
                 draws: list[str]) -> list[Path]:
    """Panels (task, metric, panel title): x = model and eta (config order), colour and marker = sampler."""
    from rwbench.figures.common import interval_errors, metric_label

    cells = list(dict.fromkeys(runs["cell"]))
    hues = list(dict.fromkeys(runs["hue"]))
    width = 0.75 / max(1, len(hues))
    ncols = min(3, len(facets))
    nrows = -(-len(facets) // ncols)
    each = min(max(3.2, 0.9 * len(cells) + 1.4), (style.MAX_WIDTH_IN - 1.8) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(each * ncols + 1.8, 3.0 * nrows), squeeze=False)
    for ax, (task, metric, name) in zip(axes.ravel(), facets):
        part = runs[runs["task"].astype(str) == task]
        for _, row in part.iterrows():
            h = hues.index(row["hue"])
            x = cells.index(row["cell"]) + (h - (len(hues) - 1) / 2) * width
            ax.errorbar([x], [row[metric]], yerr=interval_errors(row, metric), fmt=style.sampler_marker(row["hue"]),
                        ms=4, capsize=3, color=style.sampler_color(row["hue"]), label=row["hue"])
        ax.set_xticks(range(len(cells)), cells, rotation=25, ha="right", fontsize=7)
        ax.set_xlabel("model, measurement noise eta")
        ax.set_ylabel(metric_label(metric), fontsize=8)
        ax.set_title(name, fontsize=9)
    for ax in axes.ravel()[len(facets):]:
        ax.axis("off")
    handles, names = [], []
    for ax in axes.ravel():
        for hnd, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in names:
                handles.append(hnd)
                names.append(lab)
    order = sorted(range(len(names)), key=lambda i: hues.index(names[i]))       # config order
    fig.legend([handles[i] for i in order], [names[i] for i in order], fontsize=6, loc="outside right center",
               title="sampler", title_fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.set_layout_engine("constrained")
    return ctx.save_figure(fig, stem, draws=draws)


def summary_figure(ctx: Context, runs: pd.DataFrame) -> list[Path]:
    """inverse.{png,pdf}: PSNR of single samples, one panel per task (at most MAX_PANELS); per task
    inverse-<task>-metrics: PSNR, PSNR of the mean of N, SSIM; 95 % intervals over targets; the table."""
    from rwbench.figures.common import metric_label

    runs = cluster_intervals(ctx, runs)
    metrics = present_metrics(runs, SUMMARY)
    keys = [k for k in ("task", "task_params_eta", "model", "sampler", "params_step_scale") if k in runs.columns]
    runs["cell"] = [cell_label(row) for _, row in runs.iterrows()]
    runs["hue"] = [hue_label(row) for _, row in runs.iterrows()]
    tasks = list(dict.fromkeys(runs["task"].astype(str)))
    written = []
    if "psnr" in metrics:
        written += point_panels(ctx, runs, [(t, "psnr", f"{t}: PSNR of single samples") for t in
                                            tasks[:style.MAX_PANELS]],
                                "inverse", "inverse problems: PSNR of single samples, 95 % intervals over targets",
                                ["psnr"])
    else:
        fig, ax = plt.subplots(figsize=(4.0, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no PSNR values for the inverse runs (diverged or not evaluated)", ha="center", fontsize=8)
        written += ctx.save_figure(fig, "inverse")
    for task in sorted(tasks):
        part = runs[runs["task"].astype(str) == task]
        facets = [(task, m, f"{task}: {metric_label(m, unit=False)}") for m in metrics]
        if facets:
            written += point_panels(ctx, part, facets, f"inverse-{task}-metrics",
                                    f"{task}: 95 % intervals over targets (t with targets - 1 df)", metrics)
        else:
            fig, ax = plt.subplots(figsize=(4.0, 1.5))
            ax.axis("off")
            ax.text(0.5, 0.5, f"{task}: no metric values (diverged or not evaluated)", ha="center", fontsize=8)
            written += ctx.save_figure(fig, f"inverse-{task}-metrics")
    cols = [f"{m}{b}" for m in metrics for b in ("", "_ci_lo", "_ci_hi", "_ci95_lo", "_ci95_hi", "_se")]
    table = metric_table(runs, keys, [c for c in cols if c in runs.columns])
    return written + ctx.save_table(table, "inverse")
