"""Aggregation of per-image metric values: mean, standard error and percentile-bootstrap 95 % interval.

In metrics.csv a per-image metric `m` becomes four rows: `m` (mean), `m_se` (sample std / sqrt(n)),
`m_ci95_lo` and `m_ci95_hi` (2.5 / 97.5 percentiles of the mean over bootstrap resamples); n = number of
finite per-image values used (NaN values, e.g. of diverged images, are dropped).
"""

from __future__ import annotations

import math

import numpy as np

SUFFIXES = ("", "_se", "_ci95_lo", "_ci95_hi")


def summarize(values, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """mean, se = std(ddof=1)/sqrt(n), percentile-bootstrap CI of the mean at `level`, and n (finite values)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    n = int(values.size)
    nan = float("nan")
    if n == 0:
        return {"mean": nan, "se": nan, "ci95_lo": nan, "ci95_hi": nan, "n": 0}
    mean = float(values.mean())
    if n == 1 or not np.all(np.isfinite(values)):
        return {"mean": mean, "se": nan, "ci95_lo": nan, "ci95_hi": nan, "n": n}
    se = float(values.std(ddof=1) / math.sqrt(n))
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, 256):
        stop = min(n_boot, start + 256)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return {"mean": mean, "se": se, "ci95_lo": float(lo), "ci95_hi": float(hi), "n": n}


def summary_rows(metric: str, values, **summary_kwargs) -> list[tuple[str, float, int]]:
    """(metric name, value, n) rows for `metric`, `metric_se`, `metric_ci95_lo`, `metric_ci95_hi`."""
    s = summarize(values, **summary_kwargs)
    return [(metric, s["mean"], s["n"]), (f"{metric}_se", s["se"], s["n"]),
            (f"{metric}_ci95_lo", s["ci95_lo"], s["n"]), (f"{metric}_ci95_hi", s["ci95_hi"], s["n"])]
