"""Posterior calibration figure from the oracle posterior benchmark (rwbench.bench.posterior --json): per task (rows),
coverage of exact posterior draws, energy distance to exact draws and PSNR gap of the mean against N exact draws
(columns) against forward NFE, one line per sampler. One figure per eta (never two noise levels side by side).

Reference lines are the same statistics for N independent exact draws: the coverage N exact draws reach at the same N
and quantile rule (not the nominal level), the exact-vs-exact energy distance (band: its 95 % t interval over targets)
and a PSNR gap of 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rwbench.io import atomic_path, read_json  # noqa: E402

PANELS = [("coverage_of_exact_draws", "ref_coverage_of_exact_draws", "coverage of exact draws"),
          ("energy_distance", "ref_energy_distance", "energy distance to exact draws"),
          ("psnr_gap_n", None, "PSNR(mean) - PSNR(mean of N exact) [dB]")]


def build(summary: list[dict], out_dir: str | Path, *, sweep: float = 1.0, stem: str = "posterior-calibration",
          formats=("png",)) -> list[Path]:
    """Write <stem>-eta<eta>.<fmt> per eta; rows of `summary` as written by rwbench.bench.posterior.summarise."""
    rows = [r for r in summary if float(r["sweep"]) == float(sweep)]
    if not rows:
        raise ValueError(f"summary: no rows with sweep factor {sweep}; run the benchmark with --sweep {sweep}")
    out_dir = Path(out_dir)
    written = []
    for eta in sorted({float(r["eta"]) for r in rows}):
        part = [r for r in rows if float(r["eta"]) == eta]
        tasks = sorted({r["task"] for r in part})
        samplers = sorted({r["sampler"] for r in part})
        colors = plt.get_cmap("tab10")
        fig, axes = plt.subplots(len(tasks), len(PANELS), figsize=(4.2 * len(PANELS), 2.8 * len(tasks)), squeeze=False)
        for i, task in enumerate(tasks):
            cell = [r for r in part if r["task"] == task]
            for j, (metric, ref, title) in enumerate(PANELS):
                ax = axes[i][j]
                for s, sampler in enumerate(samplers):
                    pts = sorted((r["nfe"], r.get(metric, np.nan), r.get(f"{metric}_ci", np.nan)) for r in cell
                                 if r["sampler"] == sampler)
                    if not pts:
                        continue
                    x, y, e = (np.array(v, dtype=float) for v in zip(*pts))
                    ax.errorbar(x, y, yerr=np.where(np.isfinite(e), e, 0), marker="o", ms=3, capsize=2,
                                color=colors(s % 10), label=sampler)
                if ref is not None:
                    vals = np.array([r[ref] for r in cell if ref in r], dtype=float)
                    cis = np.array([r.get(f"{ref}_ci", np.nan) for r in cell if ref in r], dtype=float)
                    if len(vals):
                        centre = float(np.nanmean(vals))
                        half = float(np.nanmean(cis)) if np.isfinite(cis).any() else 0.0
                        ax.axhline(centre, color="k", ls="--", lw=1, label="N exact draws")
                        ax.axhspan(centre - half, centre + half, color="k", alpha=0.1)
                else:
                    ax.axhline(0.0, color="k", ls="--", lw=1)
                ax.set_xscale("log")
                ax.set_xlabel("forward NFE")
                ax.set_title(f"{task}: {title}", fontsize=9)
                if metric.startswith("coverage"):
                    ax.set_ylim(-0.02, 1.02)
                if metric == "energy_distance":
                    ax.set_yscale("symlog", linthresh=1e-2)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"Calibration against the exact posterior, eta = {eta:g} on [0, 1] (sweep factor {sweep:g})", fontsize=10)
        fig.tight_layout()
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
        raise FileNotFoundError(f"{path}: no benchmark output; run `python -m rwbench.bench posterior --json {path}`")
    for written in build(read_json(path)["summary"], args.out_dir, sweep=args.sweep):
        print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
