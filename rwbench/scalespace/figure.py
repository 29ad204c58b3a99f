"""The scale-space data of the figures (rwbench.figures.scalespace draws them): every run's scalespace CSVs joined with
its spec, and the monotonicity table (D6 per family, sampler, schedule, temperature, step factor)."""

from __future__ import annotations

from pathlib import Path

from rwbench.io import read_json
from rwbench.plan.failures import produced

GROUP = ["family", "sampler", "schedule", "T0", "TK", "c", "steps", "curve"]


def _param(spec: dict, key: str):
    params = spec.get("params") or {}
    value = params.get(key, spec.get(f"params_{key}"))
    return "" if value is None else value


def load_runs(runs_dir: str | Path):
    """(diagnostics, monotonicity) data frames of every <runs_dir>/*/scalespace.csv joined with its spec.json."""
    import pandas as pd

    runs_dir = Path(runs_dir)
    files = [p for p in sorted(runs_dir.glob("*/scalespace.csv")) if produced(p.parent, "scalespace")]  # not failed
    if not files:
        raise FileNotFoundError(f"{runs_dir}: no */scalespace.csv; run `rwbench scalespace --run <run dir>` first")
    diags, monos = [], []
    for path in files:
        spec = read_json(path.parent / "spec.json")
        meta = {"family": spec.get("family", ""), "sampler": spec.get("sampler", ""), "schedule": spec.get("schedule", ""),
                "T0": _param(spec, "T0"), "TK": _param(spec, "TK"), "c": _param(spec, "c"), "steps": spec.get("steps", "")}
        diags.append(pd.read_csv(path).assign(**meta))
        mono_path = path.parent / "scalespace-monotonicity.csv"
        if mono_path.is_file():
            monos.append(pd.read_csv(mono_path).assign(**meta))
    mono = pd.concat(monos, ignore_index=True) if monos else pd.DataFrame(columns=["run_id", "curve", "quantity", "score"])
    return pd.concat(diags, ignore_index=True), mono


def monotonicity_table(mono):
    """Mean D6 score per (family, sampler, schedule, T0, TK, c, steps, curve) over runs (seeds), one column per quantity."""
    if mono.empty:
        return mono
    frame = mono.copy()
    frame[GROUP] = frame[GROUP].astype(str)      # D7 rows keep their run's settings: osmosis starts from its samples
    table = frame.pivot_table(index=GROUP, columns="quantity", values="score", aggfunc="mean")
    table.columns = [f"M_{q}" for q in table.columns]
    counts = frame.groupby(GROUP)["run_id"].nunique().rename("n_runs")
    return table.join(counts).reset_index()


__all__ = ["load_runs", "monotonicity_table"]
