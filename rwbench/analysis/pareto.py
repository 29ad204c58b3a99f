"""The Pareto front on the exact oracle (issue 23, item 4; `rwbench pareto`, rule `pareto`): energy distance to exact
draws and variance ratio, each with its 95 % interval, against the NFE budget, for every cell of the experiments
named in the config's `pareto: {experiments: [...]}`, beside the exact-draw floor band; one row per (sampler, setting,
NFE budget): reports/tables/oracle_pareto.csv.

An aggregation over runs: the values and intervals are the ones `rwbench evaluate` wrote into each run's metrics.csv
(results/metrics.csv): energy_distance (U-statistic against the oracle's exact reference draws, its bootstrap
interval) and variance_ratio (mean |x - mu|^2 / tr Sigma, its interval), rwbench.metrics.exact. A cell run on S > 1
seeds reports the mean over seeds with the pooled standard error sqrt(sum se_s^2) / S and a normal 95 % interval.

The band: the exact-draw floor of each metric at the cell's n (results/floors.csv: mean +- sd of the metric over
independent sets of n exact draws; with S seeds pooled the sd of a mean of S, sd / sqrt(S)). A cell is `in_band` when
its energy-distance and its variance-ratio intervals both overlap their bands; `band_nfe` is the smallest NFE budget
at which the cell's (sampler, setting) is in band (BAND_RULE), empty when none is.

Settings: the walk (sampler simplified) is `tuned` in an experiment with `tuned:` (rwbench.plan.tuned), `shipped` or
`paper` at those settings (WALK_SETTINGS), else its values; other samplers are labelled with their ladder (and noise
fraction eta where they have one). Every point carries its K and, for the walk, its temperature schedule T_0 -> T_K
and step factor c (`label`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rwbench.analysis.compare import budget, cells_of

# the walk's settings with a name: as the DAG ships it (sigmoid ladder, c 0.5, T0 0.4) and the paper's unconditional
# sigmoid run (official config: c 0.7, T0 0.1; docs/paper.md)
WALK_SETTINGS = {"shipped": {"schedule": "sigmoid", "c": 0.5, "T0": 0.4, "TK": 1.0},
                 "paper": {"schedule": "sigmoid", "c": 0.7, "T0": 0.1, "TK": 1.0}}
WALK = "simplified"
METRICS = {"ed": "energy_distance", "vr": "variance_ratio"}
BAND_RULE = ("smallest NFE budget whose energy-distance and variance-ratio 95 % intervals both overlap the exact-draw "
             "band (floor mean +- sd at the cell's n)")
COLUMNS = ["sampler", "setting", "nfe", "label", "ed", "ed_lo", "ed_hi", "ed_band_lo", "ed_band_hi", "variance_ratio",
           "vr_lo", "vr_hi", "vr_band_lo", "vr_band_hi", "n", "in_band", "band_nfe", "band_rule", "nfe_used", "steps",
           "schedule", "c", "T0", "TK", "ancestral_eta", "experiment", "model", "seeds", "diverged_fraction",
           "run_ids"]
Z95 = 1.959963984540054


def settings_of(config: dict) -> dict:
    """The config's `pareto:` section, checked: experiments of the config, samples_nfe budgets of theirs."""
    section = config.get("pareto")
    if not section:
        raise ValueError("pareto: the config has no `pareto:` section; name the experiments of the front "
                         "(pareto: {experiments: [...]}), see config/default.yaml")
    experiments = config.get("experiments") or {}
    for name in section["experiments"]:
        if name not in experiments:
            raise ValueError(f"pareto.experiments: {name!r} is not an experiment of the config "
                             f"({', '.join(experiments)})")
        if "nfe" not in experiments[name]:
            raise ValueError(f"pareto.experiments: {name!r} gives `steps`; a front compares NFE budgets (`nfe:`)")
    return section


def setting(exp: dict, key: dict) -> str:
    """The setting label of a cell (module docstring)."""
    if key["sampler"] == WALK:
        if exp.get("tuned"):
            return "tuned"
        for name, values in WALK_SETTINGS.items():
            if key["schedule"] == values["schedule"] and all(math.isclose(float(key.get(k, math.nan)), v)
                                                             for k, v in values.items() if k != "schedule"):
                return name
        return f"{key['schedule']} c={key.get('c'):g} T0={key.get('T0'):g} TK={key.get('TK'):g}"
    eta = key.get("ancestral_eta")
    return str(key["schedule"]) + (f", eta={float(eta):g}" if eta is not None else "")


def point_label(key: dict) -> str:
    """K and, for the walk, the temperature schedule and step factor of a cell: 'K=50, T 0.4->1, c=0.5'."""
    text = f"K={int(key['steps'])}"
    if key["sampler"] == WALK:
        text += f", T {key.get('T0'):g}->{key.get('TK'):g}, c={key.get('c'):g}"
    return text


def _metric_rows(metrics):
    """{(run_id, metric): row} of the aggregated table's energy_distance, variance_ratio and diverged_fraction rows."""
    wanted = set(METRICS.values()) | {"diverged_fraction"}
    part = metrics[metrics["metric"].isin(wanted)].drop_duplicates(["run_id", "metric"], keep="last")
    return {(str(r["run_id"]), str(r["metric"])): r for r in part.to_dict("records")}


def _pooled(rows: list[dict]) -> tuple[float, float, float, int]:
    """(value, lo, hi, n) of one metric over a cell's seeds: the run's own interval for one seed; else the mean with
    the pooled se and a normal interval."""
    values = np.array([float(r["value"]) for r in rows])
    if len(rows) == 1:
        r = rows[0]
        lo, hi = float(r.get("ci_lo", math.nan)), float(r.get("ci_hi", math.nan))
        if not (math.isfinite(lo) and math.isfinite(hi)) and math.isfinite(float(r.get("se", math.nan))):
            lo, hi = values[0] - Z95 * float(r["se"]), values[0] + Z95 * float(r["se"])
        return float(values[0]), lo, hi, int(r["n"])
    se = math.sqrt(sum(float(r["se"]) ** 2 for r in rows)) / len(rows)
    mean = float(values.mean())
    return mean, mean - Z95 * se, mean + Z95 * se, int(sum(int(r["n"]) for r in rows))


def _band(floors, reference: str, n: int, metric: str, seeds: int) -> tuple[float, float]:
    """(lo, hi) of the exact-draw band of `metric` at (reference, n): mean +- sd / sqrt(seeds); NaN without a floor."""
    from rwbench.run.rundir import floor_of

    got = floor_of(floors, reference, n, metric) if floors is not None else None
    if got is None:
        return math.nan, math.nan
    mean, sd = got
    half = sd / math.sqrt(seeds)
    return mean - half, mean + half


def _overlaps(lo: float, hi: float, band_lo: float, band_hi: float) -> bool:
    return all(math.isfinite(v) for v in (lo, hi, band_lo, band_hi)) and lo <= band_hi and hi >= band_lo


def table(config: dict, metrics, floors=None, notes: list | None = None):
    """The Pareto table (pandas DataFrame, COLUMNS) of the config's `pareto.experiments` from the aggregated metrics
    (long format, rwbench aggregate) and floors (results/floors.csv or None); cells without evaluated runs are left
    out with a note."""
    import pandas as pd

    from rwbench.plan.grid import expand_experiment

    notes = notes if notes is not None else []
    section = settings_of(config)
    got = _metric_rows(metrics)
    rows = []
    for name in section["experiments"]:
        exp = config["experiments"][name]
        for cell in cells_of(expand_experiment(config, name)):
            key = cell.key
            if key["task"] != "uncond" or cell.specs[0]["family"] != "oracle":
                notes.append(f"{name}: {key['model']} {key['sampler']}: not an unconditional oracle cell; left out")
                continue
            runs = [s["run_id"] for s in cell.specs if (s["run_id"], METRICS["ed"]) in got
                    and (s["run_id"], METRICS["vr"]) in got]
            if not runs:
                notes.append(f"{name}: {key['sampler']} K={key['steps']}: no evaluated run with both metrics")
                continue
            row = {"sampler": key["sampler"], "setting": setting(exp, key), "nfe": int(budget(exp, cell)),
                   "label": point_label(key), "nfe_used": int(cell.specs[0]["nfe"]), "steps": int(key["steps"]),
                   "schedule": key["schedule"], "c": key.get("c", math.nan), "T0": key.get("T0", math.nan),
                   "TK": key.get("TK", math.nan), "ancestral_eta": key.get("ancestral_eta", math.nan),
                   "experiment": name, "model": key["model"], "seeds": len(runs), "run_ids": ";".join(runs)}
            # the floors are keyed by the run's reference set: the energy distance row names it (the moment metrics'
            # rows say exact_mixture, what they are computed against)
            reference = str(got[(runs[0], METRICS["ed"])].get("reference", ""))
            for short, metric in METRICS.items():
                value, lo, hi, n = _pooled([got[(r, metric)] for r in runs])
                n_one = int(got[(runs[0], metric)]["n"])
                band = _band(floors, reference, n_one, metric, len(runs))
                prefix = "ed" if short == "ed" else "vr"
                row.update({("ed" if short == "ed" else "variance_ratio"): value, f"{prefix}_lo": lo,
                            f"{prefix}_hi": hi, f"{prefix}_band_lo": band[0], f"{prefix}_band_hi": band[1]})
                row["n"] = n
                if not math.isfinite(band[0]) and not any(metric in note and f"n = {n_one} " in note for note in notes):
                    notes.append(f"{name}: no exact-draw floor of {metric} at n = {n_one} ({reference}); run "
                                 "`rwbench floors` on these runs")
            div = [float(got[(r, "diverged_fraction")]["value"]) for r in runs if (r, "diverged_fraction") in got]
            row["diverged_fraction"] = float(np.mean(div)) if div else math.nan
            row["in_band"] = (_overlaps(row["ed_lo"], row["ed_hi"], row["ed_band_lo"], row["ed_band_hi"])
                              and _overlaps(row["vr_lo"], row["vr_hi"], row["vr_band_lo"], row["vr_band_hi"]))
            rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("band_nfe", "band_rule")])
    return with_band_nfe(frame)


def with_band_nfe(frame):
    """Add `band_nfe` (BAND_RULE, per sampler and setting; NaN when no budget is in band) and `band_rule`, and sort by
    the experiments' order, sampler, setting and NFE."""
    frame = frame.copy()
    first = {}
    for (sampler, name), part in frame.groupby(["sampler", "setting"], sort=False):
        hits = part.loc[part["in_band"].astype(bool), "nfe"]
        first[(sampler, name)] = float(hits.min()) if len(hits) else math.nan
    frame["band_nfe"] = [first[(s, n)] for s, n in zip(frame["sampler"], frame["setting"])]
    frame["band_rule"] = BAND_RULE
    order = {k: i for i, k in enumerate(dict.fromkeys(zip(frame["sampler"], frame["setting"])))}
    frame["_order"] = [order[k] for k in zip(frame["sampler"], frame["setting"])]
    frame = frame.sort_values(["_order", "nfe"], kind="stable").drop(columns="_order").reset_index(drop=True)
    return frame[COLUMNS]


def markdown(frame) -> str:
    """A compact Markdown view: value [lo, hi] of both metrics, the band and the first NFE in band."""
    def cell(v, lo, hi):
        return f"{v:.4g} [{lo:.3g}, {hi:.3g}]" if math.isfinite(v) else "-"

    view = frame.assign(
        ed_ci=[cell(*r) for r in zip(frame["ed"], frame["ed_lo"], frame["ed_hi"])],
        vr_ci=[cell(*r) for r in zip(frame["variance_ratio"], frame["vr_lo"], frame["vr_hi"])],
        band_nfe=frame["band_nfe"].map(lambda v: "" if not math.isfinite(v) else str(int(v))))
    cols = ["sampler", "setting", "nfe", "label", "ed_ci", "vr_ci", "n", "in_band", "band_nfe"]
    return view[cols].to_markdown(index=False) + f"\n\nband_nfe: {BAND_RULE}.\n"


def write(frame, out) -> list[Path]:
    """<out>/tables/oracle_pareto.csv and .md, atomically."""
    from rwbench.io import atomic_write

    tables = Path(out) / "tables"
    csv_path, md_path = tables / "oracle_pareto.csv", tables / "oracle_pareto.md"
    with atomic_write(csv_path, "w") as handle:
        frame.to_csv(handle, index=False)
    with atomic_write(md_path, "w") as handle:
        handle.write(markdown(frame))
    return [csv_path, md_path]


def build(config: dict, metrics_path, floors_path=None, out="reports", notes: list | None = None):
    """Read the aggregated metrics and floors, write the table; returns (frame, written paths)."""
    from rwbench.run import rundir

    metrics = rundir.read_metrics_csv(metrics_path)
    floors = rundir.read_floors(floors_path) if floors_path and Path(floors_path).is_file() else None
    if floors is None:
        (notes if notes is not None else []).append(f"{floors_path}: no floors table; the band columns are empty")
    frame = table(config, metrics, floors, notes)
    if frame.empty:
        raise ValueError(f"{metrics_path}: no evaluated run of the pareto experiments "
                         f"({', '.join(settings_of(config)['experiments'])}); run the DAG's runs first")
    return frame, write(frame, out)


__all__ = ["WALK_SETTINGS", "BAND_RULE", "COLUMNS", "settings_of", "setting", "point_label", "table", "with_band_nfe",
           "markdown", "write", "build"]
