"""Calibration against the exact posterior (issue 15): coverage of exact posterior draws, energy distance to exact draws
and PSNR(mean of N) - PSNR(mean of N exact draws) against forward NFE (log x, linear y), one line per sampler (colour
and marker: rwbench.figures.style) and eta (line style) with 95 % intervals over targets (t, targets - 1 df; over seeds
when pooled). The DAG figure `calibration` shows the coverage of exact draws, one panel per task; its extras
`calibration-<task>` the three statistics of one task.

The grey band is what N exact posterior draws reach: the same statistics of a second, independent set of N exact draws
per target (metrics `<m>_exact_n`, stream exact-reference) with its 95 % interval. A calibrated sampler lies inside it;
the nominal level of the intervals (0.9) is not the reference (N draws cover less; statistics.md).

Two sources, one tidy frame (TIDY_COLUMNS), one plotting function (draw):
- the DAG figure `calibration` (build(ctx)) from the run frame (metrics.csv); cells with step_scale != 1 are left out
  (noted), eta levels are line styles; its extra `calibration-grid` is rwbench.figures.inverse_grid.build_runs;
- `python -m rwbench.figures.calibration BENCH_JSON OUT_DIR` from rwbench.tools.bench.posterior's summary (one file per eta).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from matplotlib.lines import Line2D  # noqa: E402

from rwbench.figures import inverse_grid, style  # noqa: E402
from rwbench.figures.common import SkipFigure, interval_bounds, line_labels, line_sort_key  # noqa: E402
from rwbench.io import atomic_path, read_json  # noqa: E402
from rwbench.metrics.registry import metric_label  # noqa: E402

# (metric, panel title); the band is metric + EXACT_N
PANELS = [("coverage_of_exact_draws", "coverage of exact draws [fraction of pixels]"),
          ("energy_distance", "energy distance to exact draws [[0, 1] pixels]"),
          ("psnr_gap_vs_exact_draws", "PSNR(mean) - PSNR(mean of N exact) [dB]")]
from rwbench.metrics.registry import EXACT_N  # noqa: E402  (<m>_exact_n: the N exact draws' value, the band)
TIDY_COLUMNS = ["eta", "task", "line", "nfe", "n", "metric", "value", "lo", "hi", "ref", "ref_lo", "ref_hi", "run_id"]
# the bench summary's names of the same statistics: metric -> (sampler column, exact-reference column or None: 0)
BENCH = {"coverage_of_exact_draws": ("coverage_of_exact_draws", "ref_coverage_of_exact_draws"),
         "energy_distance": ("energy_distance", "ref_energy_distance"),
         "psnr_gap_vs_exact_draws": ("psnr_gap_n", None)}   # the bench's gap is against its exact-reference set: 0


def _bounds(row, metric: str) -> tuple[float, float]:
    got = interval_bounds(row, metric)
    return got if got is not None else (np.nan, np.nan)


def _int(value) -> int:
    return int(value) if value is not None and pd.notna(value) else 0


def tidy_from_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """TIDY_COLUMNS from a run frame (rwbench.figures.common.run_frame rows of oracle inverse runs)."""
    runs = runs.copy()
    runs["eta"] = runs["task_params_eta"].astype(float) if "task_params_eta" in runs.columns else np.nan
    runs["line"] = line_labels(runs)
    out = []
    for _, r in runs.iterrows():
        for metric, _ in PANELS:
            value = float(r.get(metric, np.nan))
            if not np.isfinite(value):
                continue
            lo, hi = _bounds(r, metric)
            ref = float(r.get(metric + EXACT_N, np.nan))
            ref_lo, ref_hi = _bounds(r, metric + EXACT_N)
            out.append({"eta": r["eta"], "task": r["task"], "line": r["line"], "nfe": float(r["nfe"]),
                        "n": _int(r.get("samples_per_target")), "metric": metric, "value": value, "lo": lo,
                        "hi": hi, "ref": ref, "ref_lo": ref_lo, "ref_hi": ref_hi, "run_id": r["run_id"]})
    return pd.DataFrame(out, columns=TIDY_COLUMNS)


def tidy_from_bench(summary: list[dict], sweep: float = 1.0, n: int = 0) -> pd.DataFrame:
    """TIDY_COLUMNS from rwbench.tools.bench.posterior.summarise rows at one sweep factor (intervals: mean +- the t
    half-width over targets)."""
    rows = [r for r in summary if float(r["sweep"]) == float(sweep)]
    if not rows:
        raise ValueError(f"summary: no rows with sweep factor {sweep}; run the benchmark with --sweep {sweep}")
    out = []
    for r in rows:
        for metric, _ in PANELS:
            key, ref_key = BENCH[metric]
            if key not in r:
                continue
            half = float(r.get(f"{key}_ci", np.nan))
            ref = float(r[ref_key]) if ref_key in r else 0.0
            ref_half = float(r.get(f"{ref_key}_ci", np.nan)) if ref_key in r else 0.0
            out.append({"eta": float(r["eta"]), "task": r["task"], "line": r["sampler"], "nfe": float(r["nfe"]),
                        "n": n, "metric": metric, "value": float(r[key]), "lo": float(r[key]) - half,
                        "hi": float(r[key]) + half, "ref": ref, "ref_lo": ref - ref_half, "ref_hi": ref + ref_half,
                        "run_id": ""})
    return pd.DataFrame(out, columns=TIDY_COLUMNS)


def line_style_key(line: str, eta) -> str:
    """What a line's style stands for: its eta and whatever its label adds to the sampler ('eta = 0.05, c=0.5')."""
    rest = str(line)[len(style.sampler_name(line)):].strip()
    return ", ".join(t for t in ((f"eta = {eta:g}" if pd.notna(eta) else ""), rest) if t) or "-"


def draw(tidy: pd.DataFrame, title: str, facets: list[tuple[str, str]] | None = None):
    """The figure: one panel per (task, metric) facet (default: every task x PANELS metric, first-seen order), x =
    forward NFE (log, the budgets as ticks), y linear; per sampler line (colour and marker: the sampler's) and eta
    (line style) the values with 95 % error bars, and per eta the N-exact-draws value as a dashed line in a band."""
    names = dict(PANELS)
    tasks = list(dict.fromkeys(tidy["task"]))
    facets = facets or [(t, m) for t in tasks for m, _ in PANELS]
    tidy = tidy.assign(style=[line_style_key(line, eta) for line, eta in zip(tidy["line"], tidy["eta"])])
    styles = style.line_styles(sorted(dict.fromkeys(tidy["style"])))
    lines = sorted(dict.fromkeys(tidy["line"]), key=line_sort_key)
    etas = sorted(dict.fromkeys(tidy["eta"].dropna()))
    ncols = min(3, len(facets))
    nrows = -(-len(facets) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols + 1.8, 3.0 * nrows), squeeze=False)
    for ax, (task, metric) in zip(axes.ravel(), facets):
        cell = tidy[(tidy["task"] == task) & (tidy["metric"] == metric)]
        for line in lines:
            for key, pts in cell[cell["line"] == line].groupby("style", sort=False):
                pts = pts.sort_values("nfe")
                err = np.vstack([(pts["value"] - pts["lo"]).clip(lower=0), (pts["hi"] - pts["value"]).clip(lower=0)])
                ax.errorbar(pts["nfe"], pts["value"], yerr=np.nan_to_num(err), marker=style.sampler_marker(line),
                            ms=3.5, capsize=2, color=style.sampler_color(line), ls=styles[key], label=line)
        for k, eta in enumerate(etas if etas else [np.nan]):
            part = cell[(cell["eta"] == eta) | (cell["eta"].isna() & pd.isna(eta))]
            refs = part["ref"].to_numpy(float)
            if not np.isfinite(refs).any():
                continue
            # one band per eta: the cells share their exact draws (same seeds), so their values agree up to the
            # images a sampler lost to divergence; the median keeps one line
            centre = float(np.nanmedian(refs))
            lo, hi = float(np.nanmedian(part["ref_lo"])), float(np.nanmedian(part["ref_hi"]))
            n = int(part["n"].max()) if (part["n"] > 0).any() else None
            what = f"{n} exact draws" if n else "N exact draws"
            ax.axhline(centre, color="k", ls=style.LINE_STYLES[k % len(style.LINE_STYLES)], lw=0.9,
                       label=what + (f" (eta = {eta:g}) with 95 % interval" if pd.notna(eta) else " with 95 % interval"))
            if np.isfinite(lo) and np.isfinite(hi):
                ax.axhspan(lo, hi, color=style.FLOOR_COLOR, alpha=0.18, lw=0)
        ax.set_xscale("log")
        ticks = sorted(cell["nfe"].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])      # the budgets themselves, not powers of ten
        ax.minorticks_off()
        ax.set_xlabel("forward NFE, denoiser evaluations per image [calls]")
        ax.set_ylabel(names[metric], fontsize=8)
        ax.set_title(f"{task}: {metric_label(metric, unit=False)}", fontsize=8)
        if metric.startswith("coverage"):
            ax.set_ylim(-0.02, 1.02)
    for ax in axes.ravel()[len(facets):]:
        ax.axis("off")
    handles = [Line2D([], [], color=style.sampler_color(line), marker=style.sampler_marker(line), ls="-", label=line)
               for line in lines]
    handles += [Line2D([], [], color="0.3", ls=styles[key], label=key) for key in styles]
    seen = {h.get_label() for h in handles}
    for ax in axes.ravel():
        for h, name in zip(*ax.get_legend_handles_labels()):
            if "exact draws" in name and name not in seen:
                handles.append(h)
                seen.add(name)
    fig.legend(handles=handles, fontsize=6, loc="outside right center", title="sampler; line style; band",
               title_fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.set_layout_engine("constrained")
    return fig


def build(ctx) -> list[Path]:
    """DAG figure `calibration` (coverage of exact draws per task, + table), its extras `calibration-<task>` (the three
    statistics of one task) and `calibration-grid` from the runs with figure == calibration."""
    runs = ctx.figure_runs("calibration")
    runs = runs[~runs["diverged_run"].astype(bool)]
    if "params_step_scale" in runs.columns:
        off = runs["params_step_scale"].notna() & (runs["params_step_scale"].astype(float) != 1.0)
        if off.any():
            ctx.note(f"calibration: {int(off.sum())} run(s) with step_scale != 1 left out (the figure shows each "
                     "sampler's published step; the comparisons table holds the sweep)")
        runs = runs[~off]
    tidy = tidy_from_runs(runs.reset_index(drop=True))
    if tidy.empty:
        raise SkipFigure("the calibration runs have no coverage_of_exact_draws / energy_distance / "
                         "psnr_gap_vs_exact_draws values (oracle inverse runs with samples_per_target >= 2)")
    tasks = list(dict.fromkeys(tidy["task"]))
    metric = "coverage_of_exact_draws" if (tidy["metric"] == "coverage_of_exact_draws").any() else tidy["metric"].iloc[0]
    fig = draw(tidy, "Calibration against the exact posterior: coverage of exact draws per task (lines: samplers, "
                     "95 % intervals over targets; band: N exact draws)",
               [(t, metric) for t in tasks[:style.MAX_PANELS]])
    written = ctx.save_figure(fig, "calibration", draws=[metric]) + ctx.save_table(tidy, "calibration")
    for task in sorted(tasks):
        part = tidy[tidy["task"] == task]
        metrics = [m for m, _ in PANELS if (part["metric"] == m).any()]
        fig = draw(part, f"Calibration against the exact posterior, {task} (95 % intervals over targets)",
                   [(task, m) for m in metrics])
        written += ctx.save_figure(fig, f"calibration-{task}", draws=metrics)
    return written + inverse_grid.build_runs(ctx, runs)


def build_bench(summary: list[dict], out_dir: str | Path, *, sweep: float = 1.0, stem: str = "posterior-calibration",
                formats=("png",), n: int = 0) -> list[Path]:
    """Write <stem>-eta<eta>.<fmt> per eta from rwbench.tools.bench.posterior.summarise rows (draw on tidy_from_bench)."""
    tidy = tidy_from_bench(summary, sweep, n)
    out_dir = Path(out_dir)
    written = []
    for eta in sorted(tidy["eta"].unique()):
        fig = draw(tidy[tidy["eta"] == eta], f"Calibration against the exact posterior, eta = {eta:g} on [0, 1] "
                                             f"(sweep factor {sweep:g})")
        for fmt in formats:
            path = out_dir / f"{stem}-eta{eta:g}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=130, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    """python -m rwbench.figures.calibration BENCH_JSON OUT_DIR [--sweep 1.0]"""
    p = argparse.ArgumentParser(prog="python -m rwbench.figures.calibration", description=__doc__)
    p.add_argument("bench_json")
    p.add_argument("out_dir")
    p.add_argument("--sweep", type=float, default=1.0)
    args = p.parse_args(argv)
    path = Path(args.bench_json)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no benchmark output; run `python -m rwbench.tools.bench posterior --json {path}`")
    data = read_json(path)
    n = int((data.get("args") or {}).get("n_samples") or 0)
    for written in build_bench(data["summary"], args.out_dir, sweep=args.sweep, n=n):
        print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
