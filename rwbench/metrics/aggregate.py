"""`rwbench aggregate`: concatenate runs' metrics.csv into one table with each run's spec.json as columns.

Nested spec entries are flattened with their key as prefix (params.c -> params_c, reference.kind ->
reference_kind); lists become JSON strings; a spec column that collides with a metrics column gets a `spec_` prefix.
"""

from __future__ import annotations

import json
from pathlib import Path

from rwbench.run import rundir
from rwbench.io import atomic_write

COLUMNS = rundir.METRIC_COLUMNS


def flatten(obj: dict, prefix: str = "", sep: str = "_") -> dict:
    """Flatten nested dicts: {"params": {"c": 1}} -> {"params_c": 1}; lists -> JSON strings."""
    out = {}
    for key, value in obj.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name, sep))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out


def run_table(run_dir: str | Path):
    """One run's metrics rows joined with its flattened spec.json parameters."""
    import pandas as pd

    run_dir = Path(run_dir)
    path = run_dir / rundir.METRICS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics; run `rwbench evaluate --run {run_dir}` first")
    frame = rundir.read_metrics_csv(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: written before the columns {', '.join(missing)} existed; re-run `rwbench evaluate "
                         f"--run {run_dir}`")
    spec = flatten(rundir.read_spec(run_dir)) if (run_dir / rundir.SPEC).is_file() else {}
    spec.pop("run_id", None)
    for key, value in spec.items():
        frame[f"spec_{key}" if key in COLUMNS else key] = value
    return frame


def aggregate(run_dirs, out: str | Path = "results/metrics.csv", fmt: str | None = None):
    """Concatenate run tables (sorted by run_id, metric) and write them atomically as csv or parquet."""
    import pandas as pd

    from rwbench.plan.failures import produced

    run_dirs = list(run_dirs)
    if not run_dirs:
        raise ValueError("aggregate: no run directories given (pass --run DIR or --runs-dir DIR)")
    run_dirs = [d for d in run_dirs if produced(d, "evaluate")]     # a failed run (FAILED-*.json) has no metrics
    if not run_dirs:
        raise ValueError("aggregate: every run failed (see their FAILED-*.json); nothing to aggregate")
    frame = pd.concat([run_table(d) for d in run_dirs], ignore_index=True, sort=False)
    frame = frame.sort_values(["run_id", "metric"], kind="stable").reset_index(drop=True)
    out = Path(out)
    fmt = fmt or ("parquet" if out.suffix == ".parquet" else "csv")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as err:
            raise ValueError("--format parquet needs pyarrow (pip install pyarrow); use a .csv output") from err
        with atomic_write(out, "wb") as handle:
            frame.to_parquet(handle, index=False)
    elif fmt == "csv":
        with atomic_write(out, "w") as handle:
            frame.to_csv(handle, index=False)
    else:
        raise ValueError(f"--format {fmt!r}: choose csv or parquet")
    return frame


def find_runs(runs_dir: str | Path) -> list[Path]:
    """Run directories under `runs_dir` that have a metrics.csv."""
    return sorted(p.parent for p in Path(runs_dir).glob("*/metrics.csv"))
