"""Calibration against the exact posterior (issue 15): per task and eta (rows), coverage of exact posterior draws,
energy distance to exact draws and PSNR(mean of N) - PSNR(mean of N exact draws) (columns) against forward NFE (log x),
one line per sampler with 95 % intervals over targets (t, targets - 1 df; over seeds when pooled).

The grey band is what N exact posterior draws reach: the same statistics of a second, independent set of N exact draws
per target (metrics `<m>_exact_n`, stream exact-reference) with its 95 % interval. A calibrated sampler lies inside it;
the nominal level of the intervals (0.9) is not the reference (N draws cover less; statistics.md).

Two sources, one tidy frame (TIDY_COLUMNS), one plotting function (draw):
- the DAG figure `calibration` (build(ctx)) from the run frame (metrics.csv); cells with step_scale != 1 are left out
  (noted), eta levels are separate facet rows; its extra `calibration-grid` is rwbench.figures.inverse_grid.build_runs;
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

from rwbench.figures import inverse_grid  # noqa: E402
from rwbench.figures.common import SkipFigure, interval_bounds, line_labels, line_sort_key  # noqa: E402
from rwbench.io import atomic_path, read_json  # noqa: E402

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


def draw(tidy: pd.DataFrame, title: str):
    """The figure: one row per (eta, task), one column per PANELS metric, x = forward NFE (log), a line with 95 % error
    bars per sampler (first-appearance order), the N-exact-draws value as a dashed line in a grey band."""
    facets = list(dict.fromkeys(zip(tidy["eta"], tidy["task"])))
    facets.sort(key=lambda f: (np.nan_to_num(f[0], nan=-1.0), ))         # eta ascending, tasks in first-seen order
    lines = sorted(dict.fromkeys(tidy["line"]), key=line_sort_key)
    fig, axes = plt.subplots(len(facets), len(PANELS), figsize=(4.2 * len(PANELS), 2.7 * len(facets)), squeeze=False)
    for i, (eta, task) in enumerate(facets):
        cell = tidy[(tidy["task"] == task) & ((tidy["eta"] == eta) | (tidy["eta"].isna() & pd.isna(eta)))]
        for j, (metric, name) in enumerate(PANELS):
            ax = axes[i][j]
            part = cell[cell["metric"] == metric]
            for k, line in enumerate(lines):
                pts = part[part["line"] == line].sort_values("nfe")
                if pts.empty:
                    continue
                err = np.vstack([(pts["value"] - pts["lo"]).clip(lower=0), (pts["hi"] - pts["value"]).clip(lower=0)])
                ax.errorbar(pts["nfe"], pts["value"], yerr=np.nan_to_num(err), marker="o", ms=3, capsize=2,
                            color=f"C{k % 10}", label=line)
            refs = part["ref"].to_numpy(float)
            if np.isfinite(refs).any():
                # one band per facet: the cells share their exact draws (same seeds), so their values agree up to
                # the images a sampler lost to divergence; the median keeps one line
                centre = float(np.nanmedian(refs))
                lo, hi = float(np.nanmedian(part["ref_lo"])), float(np.nanmedian(part["ref_hi"]))
                n = int(part["n"].max()) if (part["n"] > 0).any() else None
                ax.axhline(centre, color="k", ls="--", lw=1, label=f"{n} exact draws" if n else "N exact draws")
                if np.isfinite(lo) and np.isfinite(hi):
                    ax.axhspan(lo, hi, color="k", alpha=0.12, lw=0, label="95 % interval (exact draws)")
            ax.set_xscale("log")
            ticks = sorted(cell["nfe"].unique())
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])      # the budgets themselves, not powers of ten
            ax.minorticks_off()
            ax.set_xlabel("forward NFE (denoiser evaluations per image)")
            ax.set_title(f"{task}, eta = {eta:g}: {name}" if np.isfinite(eta) else f"{task}: {name}", fontsize=8)
            if metric.startswith("coverage"):
                ax.set_ylim(-0.02, 1.02)
            if metric == "energy_distance":
                ax.set_yscale("symlog", linthresh=1e-2)
            ax.grid(alpha=0.3)
    unique = {}
    for ax in axes.ravel():               # one legend for the figure, beside the panels (never over the data)
        for handle, name in zip(*ax.get_legend_handles_labels()):
            unique.setdefault(name, handle)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))    # room for the title above the first row
    fig.suptitle(title, fontsize=10, y=1 - 0.08 / fig.get_figheight())
    fig.legend(unique.values(), unique.keys(), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def build(ctx) -> list[Path]:
    """DAG figure `calibration` (+ table) and its extra `calibration-grid` from the runs with figure == calibration."""
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
    fig = draw(tidy, "Calibration against the exact posterior: samplers (lines, 95 % intervals over targets) and "
                     "N exact draws (band)")
    return (ctx.save_figure(fig, "calibration") + ctx.save_table(tidy, "calibration")
            + inverse_grid.build_runs(ctx, runs))


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
                fig.savefig(tmp, format=fmt, dpi=130)
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
