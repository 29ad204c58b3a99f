"""Uncertainty of metrics.csv rows: per-image metrics (mean, se, percentile-bootstrap 95 % interval of the mean) and set
metrics (bootstrap over the generated images against the fixed reference: replicate multiplicities, interval).

In metrics.csv a per-image metric `m` is one row: value = mean, se = sample std / sqrt(n), [ci_lo, ci_hi] = 2.5 /
97.5 percentiles of the mean over bootstrap resamples; n = number of finite per-image values used (NaN values, e.g.
of diverged images, are dropped). A set metric (FID, KID, energy distance, ...) is one row: value = the metric of
all n images, se = sd of the bootstrap replicates, [ci_lo, ci_hi] = value + the 2.5 / 97.5 percentiles of
(replicate - mean of replicates) (percentile interval re-centred on the estimate: a resample holds ~63 % distinct
images, which biases FID replicates upward by a roughly constant amount that this removes).
"""

from __future__ import annotations

import math

import numpy as np

SUFFIXES = ("", "_se", "_ci95_lo", "_ci95_hi")


def bootstrap_counts(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """[n_boot, n] multiplicities of n_boot bootstrap resamples of n items (row b = bincount(I*_b, minlength=n))."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"bootstrap: need n >= 1 items and n_boot >= 1 resamples, got n={n}, n_boot={n_boot}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1)
    return counts


def replicate_interval(estimate: float, replicates, level: float = 0.95) -> dict[str, float]:
    """se = sd(replicates) and the re-centred percentile interval estimate + quantiles(replicates - mean)."""
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    nan = float("nan")
    if reps.size < 2 or not math.isfinite(estimate):
        return {"se": nan, "ci_lo": nan, "ci_hi": nan}
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps - reps.mean(), [alpha, 1.0 - alpha])
    return {"se": float(reps.std(ddof=1)), "ci_lo": float(estimate + lo), "ci_hi": float(estimate + hi)}


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


def summary_row(values, **summary_kwargs) -> dict[str, float]:
    """{value, se, ci_lo, ci_hi, n} of per-image values: one metrics.csv row (see summarize)."""
    s = summarize(values, **summary_kwargs)
    return {"value": s["mean"], "se": s["se"], "ci_lo": s["ci95_lo"], "ci_hi": s["ci95_hi"], "n": s["n"]}


def summary_rows(metric: str, values, **summary_kwargs) -> list[tuple[str, float, int]]:
    """(metric name, value, n) rows for `metric`, `metric_se`, `metric_ci95_lo`, `metric_ci95_hi`."""
    s = summarize(values, **summary_kwargs)
    return [(metric, s["mean"], s["n"]), (f"{metric}_se", s["se"], s["n"]),
            (f"{metric}_ci95_lo", s["ci95_lo"], s["n"]), (f"{metric}_ci95_hi", s["ci95_hi"], s["n"])]
