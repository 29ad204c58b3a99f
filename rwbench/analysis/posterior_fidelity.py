"""Posterior fidelity across runs (issue 26): one row per posterior cell, the score-KSD validated against the exact
energy distance on the oracle, and the calibration claims (is each sampler calibrated; does higher PSNR go with worse
calibration). Reads what `rwbench evaluate` wrote into each inverse run (metrics.csv, metrics-per-target.csv,
coverage-curves.csv; rwbench.metrics.posterior_fidelity).

Intervals: per-cell values carry evaluate's t interval over targets. Rank correlations across cells (Spearman) get a
two-level percentile bootstrap: resample cells, then targets within each resampled cell, recompute each cell's mean
of the per-target values, then the rank correlation (both statistics are noisy per cell; docs/statistics.md).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rwbench.metrics import intervals as iv

CELL_KEYS = ["model", "task", "eta", "sampler", "nfe", "step_scale", "c", "seed"]
TABLE_COLUMNS = ["model", "family", "task", "eta", "sampler", "nfe", "step_scale", "c", "seed", "n_targets",
                 "samples_per_target", "psnr", "psnr_lo", "psnr_hi", "ssim", "coverage_gap", "coverage_gap_lo",
                 "coverage_gap_hi", "coverage_against", "coverage_gap_truth", "coverage_gap_truth_lo",
                 "coverage_gap_truth_hi", "coverage_gap_random", "coverage_gap_principal", "mmse_gap_db",
                 "mmse_gap_db_lo", "mmse_gap_db_hi", "mmse_gap_db_exact_n", "ksd", "ksd_se", "ksd_exact_n",
                 "energy_distance", "energy_distance_lo", "energy_distance_hi", "energy_distance_exact_n",
                 "diverged_fraction", "experiment", "run_id"]
VALIDATION_COLUMNS = ["scope", "cells", "spearman", "lo", "hi", "method"]
N_BOOT = 1000


def _posterior_run(spec: dict) -> bool:
    return spec.get("task", "uncond") != "uncond" and int(spec.get("samples_per_target") or 1) > 1


def _value(metrics, name: str, column: str = "value") -> float:
    rows = metrics[metrics["metric"] == name]
    return float(rows[column].iloc[0]) if len(rows) else math.nan


def collect(runs_dir: str | Path):
    """(table, per_target, curves) of every evaluated posterior run under runs_dir: the cell table (TABLE_COLUMNS, one
    row per run; identical cells of two experiments counted once), each run's per-target frame and curves frame."""
    import pandas as pd

    from rwbench.run import rundir

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"{runs_dir}: no runs folder; run the DAG (snakemake) or pass --runs <results>/runs")
    rows, per_target, curves, seen = [], {}, {}, set()
    for run in sorted(p for p in runs_dir.iterdir() if (p / "spec.json").is_file()):
        spec = rundir.read_spec(run)
        if not _posterior_run(spec) or not (run / rundir.METRICS).is_file():
            continue
        p = spec.get("params") or {}
        row = {"model": spec["model"], "family": spec.get("family"), "task": spec["task"],
               "eta": float((spec.get("task_params") or {}).get("eta", math.nan)), "sampler": spec["sampler"],
               "nfe": spec.get("nfe"), "step_scale": float(p.get("step_scale", 1.0)),
               "c": float(p["c"]) if spec.get("sampler") == "simplified" and "c" in p else math.nan,
               "seed": int(spec.get("seed", 0)), "n_targets": spec.get("n_targets"),
               "samples_per_target": spec.get("samples_per_target"), "experiment": spec.get("experiment"),
               "run_id": spec["run_id"]}
        key = tuple(str(row[k]) for k in CELL_KEYS) + (str(row["n_targets"]), str(row["samples_per_target"]))
        if key in seen:
            continue
        seen.add(key)
        m = rundir.read_metrics_csv(run / rundir.METRICS)
        for name in ("psnr", "coverage_gap", "coverage_gap_truth", "mmse_gap_db", "energy_distance"):
            row[name] = _value(m, name)
            row[f"{name}_lo"], row[f"{name}_hi"] = _value(m, name, "ci_lo"), _value(m, name, "ci_hi")
        for name in ("ssim", "coverage_gap_random", "coverage_gap_principal", "mmse_gap_db_exact_n", "ksd",
                     "ksd_exact_n", "energy_distance_exact_n", "diverged_fraction"):
            row[name] = _value(m, name)
        row["ksd_se"] = _value(m, "ksd", "se")
        oracle = np.isfinite(row["coverage_gap"])
        row["coverage_against"] = "exact draws" if oracle else "ground truth"
        if not oracle:
            for end in ("", "_lo", "_hi"):
                row["coverage_gap" + end] = row["coverage_gap_truth" + end]
        rows.append(row)
        frame = rundir.read_per_target(run)
        if (run / rundir.PER_IMAGE).is_file():      # each target's mean PSNR of single draws, beside its fidelity
            images = pd.read_csv(run / rundir.PER_IMAGE)
            if "psnr" in images.columns:
                psnr = images[~images["diverged"].astype(bool)].groupby("target")["psnr"].mean().rename("psnr")
                frame = psnr.reset_index() if frame is None else frame.drop(columns="psnr", errors="ignore").merge(
                    psnr.reset_index(), on="target", how="left")
        if frame is not None:
            per_target[spec["run_id"]] = frame
        got = rundir.read_curves(run)
        if got is not None:
            curves[spec["run_id"]] = got.assign(run_id=spec["run_id"])
    table = pd.DataFrame(rows)
    for column in TABLE_COLUMNS:
        if column not in table.columns:
            table[column] = np.nan if column not in ("coverage_against",) else ""
    return table[TABLE_COLUMNS], per_target, curves


def spearman(a, b) -> float:
    """Spearman rank correlation (average ranks for ties); nan with < 3 pairs or a constant column."""
    import pandas as pd

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return math.nan
    ra, rb = pd.Series(a[ok]).rank().to_numpy(), pd.Series(b[ok]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def rank_correlation(cells: list[tuple[np.ndarray, np.ndarray]], *, n_boot: int = N_BOOT, seed: int = 0,
                     level: float = iv.LEVEL) -> dict:
    """Spearman of the cell means of two per-target statistics (cells: (a_targets, b_targets) per cell) with the
    two-level percentile bootstrap interval (cells, then targets within each cell)."""
    cells = [(np.asarray(a, float), np.asarray(b, float)) for a, b in cells]
    cells = [(a[np.isfinite(a) & np.isfinite(b)], b[np.isfinite(a) & np.isfinite(b)]) for a, b in cells]
    cells = [(a, b) for a, b in cells if len(a)]
    estimate = spearman([a.mean() for a, _ in cells], [b.mean() for _, b in cells])
    out = {"cells": len(cells), "spearman": estimate, "lo": math.nan, "hi": math.nan,
           "method": f"two-level percentile bootstrap (cells, then targets), {n_boot} replicates"}
    if len(cells) < 4 or not math.isfinite(estimate):
        return out
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(cells), len(cells))
        ma, mb = [], []
        for i in pick:
            a, b = cells[i]
            j = rng.integers(0, len(a), len(a))
            ma.append(a[j].mean())
            mb.append(b[j].mean())
        reps.append(spearman(ma, mb))
    reps = np.asarray(reps)
    reps = reps[np.isfinite(reps)]
    if len(reps) >= 10:
        out["lo"], out["hi"] = (float(v) for v in np.quantile(reps, [(1 - level) / 2, (1 + level) / 2]))
    return out


def _pairs(table, per_target: dict, a: str, b: str) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for run_id in table["run_id"]:
        frame = per_target.get(run_id)
        if frame is None or a not in frame.columns or b not in frame.columns:
            out.append((np.zeros(0), np.zeros(0)))
            continue
        out.append((frame[a].to_numpy(float), frame[b].to_numpy(float)))
    return out


def ksd_validation(table, per_target: dict, *, n_boot: int = N_BOOT, seed: int = 0):
    """How the score-KSD ranks the oracle's posterior cells like the energy distance to exact posterior draws: the
    Spearman correlation of the cell means with its interval, over all oracle cells and per task, sampler and eta."""
    import pandas as pd

    oracle = table[np.isfinite(table["energy_distance"].to_numpy(float)) & np.isfinite(table["ksd"].to_numpy(float))]
    scopes = [("all oracle cells", oracle)]
    for column in ("task", "sampler", "eta", "model"):
        if oracle[column].nunique() > 1:
            scopes += [(f"{column}={value:g}" if isinstance(value, float) else f"{column}={value}", group)
                       for value, group in oracle.groupby(column, sort=True)]
    rows = []
    for scope, group in scopes:
        got = rank_correlation(_pairs(group, per_target, "ksd", "energy_distance"), n_boot=n_boot, seed=seed)
        rows.append({"scope": scope, **got})
    return pd.DataFrame(rows, columns=VALIDATION_COLUMNS)


def rank_disagreement(table):
    """Per oracle cell: the KSD's rank minus the energy distance's rank among the oracle cells, as a fraction of the
    cell count (|value| near 1: the KSD puts the cell at the other end; where the KSD fails)."""
    ok = np.isfinite(table["energy_distance"].to_numpy(float)) & np.isfinite(table["ksd"].to_numpy(float))
    out = np.full(len(table), np.nan)
    if ok.sum() >= 2:
        sub = table[ok]
        out[ok] = (sub["ksd"].rank().to_numpy() - sub["energy_distance"].rank().to_numpy()) / ok.sum()
    return out


def calibration_claims(table, per_target: dict, *, metric: str = "coverage_gap", n_boot: int = N_BOOT, seed: int = 0,
                       level: float = iv.LEVEL) -> dict:
    """The headline of issue 26 item 5 on the oracle cells (rows with a finite `metric`, against exact draws):

    - `per_sampler`: per sampler, the mean calibration gap (sampler minus N exact draws, mean over the levels; 0 is
      calibrated, < 0 under-covers) over all its cells' targets, with the t interval over the (cell x target)
      clusters (t_{(1+level)/2, G-1} sd / sqrt(G)) and a decision (under-covers / over-covers when the interval
      excludes 0, else undecided; whether a sampler is calibrated within a margin is a claim of the ledger);
    - `psnr_vs_gap`: Spearman of PSNR against the calibration gap across cells (all cells, and within (task, eta)
      after centring both on the group means of the cells), each with its two-level bootstrap interval. A negative
      correlation means higher PSNR goes with lower (more negative: over-confident) coverage."""
    import pandas as pd

    oracle = table[(table["coverage_against"] == "exact draws") & np.isfinite(table[metric].to_numpy(float))]
    rows = []
    for sampler, group in oracle.groupby("sampler", sort=True):
        gaps = np.concatenate([per_target[r][metric].to_numpy(float) for r in group["run_id"]
                               if r in per_target and metric in per_target[r].columns] or [np.zeros(0)])
        gaps = gaps[np.isfinite(gaps)]
        G = len(gaps)
        if G < 2:
            continue
        got = iv.t_interval(float(gaps.mean()), float(gaps.std(ddof=1) / math.sqrt(G)), G - 1, G, level,
                            f"t over {G} (cell x target) clusters, {G - 1} df")
        # an interval holding 0 does not show calibration (absence of evidence): equivalence is the ledger's question
        decision = "undecided" if got.lo <= 0 <= got.hi else ("under-covers" if got.hi < 0 else "over-covers")
        rows.append({"sampler": sampler, "cells": len(group), "targets": G, "gap": got.estimate, "lo": got.lo,
                     "hi": got.hi, "level": level, "p": got.p, "decision": decision, "method": got.method})
    per_sampler = pd.DataFrame(rows, columns=["sampler", "cells", "targets", "gap", "lo", "hi", "level", "p",
                                              "decision", "method"])
    pairs = _pairs(oracle, per_target, "psnr", metric)     # per target: mean PSNR of its draws, its gap
    overall = rank_correlation(pairs, n_boot=n_boot, seed=seed, level=level)
    centred = []
    groups = oracle.groupby(["task", "eta"]).indices
    psnr = np.array([np.nanmean(a) if len(a) else np.nan for a, _ in pairs])
    cell_gap = np.array([np.nanmean(b) if len(b) else np.nan for _, b in pairs])
    for idx in groups.values():
        p_mean, g_mean = np.nanmean(psnr[idx]), np.nanmean(cell_gap[idx])
        for i in idx:
            a, b = pairs[i]
            centred.append((a - p_mean, b - g_mean))
    within = rank_correlation(centred, n_boot=n_boot, seed=seed, level=level)
    psnr_vs_gap = pd.DataFrame([{"scope": "all oracle cells", **overall},
                                {"scope": "within (task, eta), centred", **within}])
    return {"per_sampler": per_sampler, "psnr_vs_gap": psnr_vs_gap}


def build(runs_dir: str | Path, out: str | Path, *, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Write <out>/tables/posterior_fidelity.csv, ksd_validation.csv and calibration_claims.csv; returns {name: path}
    and, under "_frames", the frames the figures draw (rwbench.figures.posterior_fidelity.build)."""
    import pandas as pd

    from rwbench.io import atomic_write

    table, per_target, curves = collect(runs_dir)
    if table.empty:
        raise ValueError(f"{runs_dir}: no evaluated inverse runs with several draws per target; run the DAG's "
                         "inverse / calibration experiments and `rwbench evaluate` first")
    table = table.assign(ksd_rank_gap=rank_disagreement(table))
    validation = ksd_validation(table, per_target, n_boot=n_boot, seed=seed)
    claims = calibration_claims(table, per_target, n_boot=n_boot, seed=seed)
    out = Path(out)
    written = {}
    claim_rows = pd.concat([claims["per_sampler"].assign(claim="calibration gap per sampler"),
                            claims["psnr_vs_gap"].rename(columns={"spearman": "gap"}).assign(
                                claim="Spearman(PSNR, calibration gap) across cells")], ignore_index=True)
    for name, frame in (("posterior_fidelity", table), ("ksd_validation", validation),
                        ("calibration_claims", claim_rows)):
        path = out / "tables" / f"{name}.csv"
        with atomic_write(path, "w") as handle:
            frame.to_csv(handle, index=False)
        written[name] = path
    written["_frames"] = {"table": table, "validation": validation, "claims": claims,
                          "curves": pd.concat(list(curves.values()), ignore_index=True) if curves else pd.DataFrame()}
    return written


__all__ = ["collect", "spearman", "rank_correlation", "ksd_validation", "rank_disagreement", "calibration_claims",
           "build", "TABLE_COLUMNS", "VALIDATION_COLUMNS"]
