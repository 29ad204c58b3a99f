"""Intervals and decisions for comparing samplers (numpy/scipy only; see /docs/statistics.md).

- `paired_mean`: percentile bootstrap of the mean of paired per-image differences.
- `paired_set`: paired bootstrap of a set-metric difference, one index resample per replicate for both arms
  (with replacement, or m-out-of-n subsampling without replacement with a finite-population rescale).
- `hierarchical`: two-level bootstrap (seeds, then images within a seed) of a mean of per-seed statistics.
- `cluster_mean`: clustered data (inverse problems: targets, then samples within a target), t quantiles with
  G - 1 degrees of freedom when there are few clusters.
- `decide`, `p_value`, `benjamini_hochberg`, `holm`, `tost`: decisions from intervals, FDR control, equivalence.

Every function returns an `Interval`: estimate, lo, hi, se, p (two-sided, H0: value 0), n, method, level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

LEVEL = 0.95
FEW_CLUSTERS = 30   # below this many clusters (targets, seeds) intervals use t quantiles with G - 1 df
LOWER, HIGHER = "lower", "higher"
A_LT_B, A_GT_B, UNDECIDED = "a < b", "a > b", "undecided"
EQUIVALENT, NOT_EQUIVALENT = "equivalent", "not shown equivalent"


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided interval at `level` and a two-sided p-value for the value 0."""

    estimate: float
    lo: float
    hi: float
    se: float
    p: float
    n: int
    method: str
    level: float = LEVEL

    def as_dict(self) -> dict:
        return asdict(self)


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level: need a confidence level strictly between 0 and 1, got {level}")


def _finite(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2:
        raise ValueError(f"{name}: need at least 2 values for an interval, got {values.size}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: {int((~np.isfinite(values)).sum())} non-finite value(s); drop diverged images first")
    return values


def bootstrap_p(replicates: np.ndarray, centre: float = 0.0) -> float:
    """Two-sided bootstrap p-value of `centre`: 2 min(P*(rep <= centre), P*(rep >= centre)) with the +1 correction."""
    reps = np.asarray(replicates, dtype=np.float64)
    B = reps.size
    below = (np.count_nonzero(reps <= centre) + 1) / (B + 1)
    above = (np.count_nonzero(reps >= centre) + 1) / (B + 1)
    return float(min(1.0, 2 * min(below, above)))


def t_quantile(level: float, df: int) -> float:
    """Two-sided t quantile t_{(1+level)/2, df}."""
    from scipy import stats

    return float(stats.t.ppf((1 + level) / 2, df))


def t_interval(estimate: float, se: float, df: int, n: int, level: float = LEVEL, method: str = "t") -> Interval:
    """estimate +- t_{(1+level)/2, df} se, with the two-sided t-test p-value of 0."""
    from scipy import stats

    _check_level(level)
    q = t_quantile(level, df)
    p = float(2 * stats.t.sf(abs(estimate) / se, df)) if se > 0 else (0.0 if estimate != 0 else 1.0)
    return Interval(float(estimate), float(estimate - q * se), float(estimate + q * se), float(se), p, int(n), method,
                    level)


def normal_p(estimate: float, se: float) -> float:
    """Two-sided p-value of 0 for an estimate with standard error se: 2 Phi(-|estimate| / se)."""
    if not se > 0:
        return 0.0 if estimate != 0 else 1.0
    return float(math.erfc(abs(estimate) / se / math.sqrt(2)))


def _percentile(estimate: float, reps: np.ndarray, n: int, level: float, method: str) -> Interval:
    """Percentile interval; p from the bootstrap se (2 Phi(-|est| / se)): a tail count of B replicates cannot go below
    2 / (B + 1), too coarse for Benjamini-Hochberg over a table of many comparisons."""
    alpha = (1 - level) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    se = float(reps.std(ddof=1))
    return Interval(float(estimate), float(lo), float(hi), se, normal_p(estimate, se), int(n), method, level)


def paired_mean(a, b=None, *, n_boot: int = 2000, level: float = LEVEL, seed=0) -> Interval:
    """Percentile bootstrap of the mean of paired differences d_i = a_i - b_i (b omitted: a holds the differences)."""
    _check_level(level)
    d = _finite(a if b is None else np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), "differences")
    n, rng = d.size, _rng(seed)
    reps = np.empty(n_boot)
    for start in range(0, n_boot, 256):   # resample images with replacement, 256 replicates at a time
        stop = min(n_boot, start + 256)
        reps[start:stop] = d[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return _percentile(float(d.mean()), reps, n, level, "paired bootstrap (images)")


def paired_set(metric: Callable[[np.ndarray], float], a, b, *, n_boot: int = 1000, level: float = LEVEL, seed=0,
               m: int | None = None) -> Interval:
    """Paired bootstrap of metric(a) - metric(b) over one shared index resample I* per replicate.

    a and b hold per-image data with matched rows (image i of both arms shares its seed); `metric(x)` scores a set
    against fixed reference statistics. With `m` (< n): m-out-of-n subsampling without replacement; the replicates'
    spread around their mean is rescaled by sqrt(m / (n - m)) (the sd of a smooth statistic of m of n images without
    replacement is sd_n sqrt(n / m) sqrt((n - m) / n)) and recentred on the full-sample difference.
    """
    _check_level(level)
    a, b = np.asarray(a), np.asarray(b)
    if len(a) != len(b):
        raise ValueError(f"paired_set: arms have {len(a)} and {len(b)} images; pair them by image index first")
    n, rng = len(a), _rng(seed)
    if n < 4:
        raise ValueError(f"paired_set: need at least 4 paired images, got {n}")
    if m is not None and not 2 <= m < n:
        raise ValueError(f"m: need 2 <= m < n = {n} for m-out-of-n subsampling, got {m}")
    estimate = float(metric(a) - metric(b))
    reps = np.empty(n_boot)
    for r in range(n_boot):
        # one index draw I* shared by both arms: the pairing cancels the noise the arms have in common
        idx = rng.integers(0, n, size=n) if m is None else rng.choice(n, size=m, replace=False)
        reps[r] = metric(a[idx]) - metric(b[idx])
    if m is None:
        return _percentile(estimate, reps, n, level, "paired bootstrap (images)")
    scaled = estimate + (reps - reps.mean()) * math.sqrt(m / (n - m))
    out = _percentile(estimate, scaled, n, level, f"paired subsampling (m = {m} of {n})")
    return out


def hierarchical(groups: Sequence, statistic: Callable[[object, np.ndarray | None], float], *, n_boot: int = 1000,
                 level: float = LEVEL, seed=0, sizes: Sequence[int] | None = None, few_t: bool = True,
                 batch: Callable[[object, np.ndarray], np.ndarray] | None = None) -> Interval:
    """Two-level bootstrap of the mean over groups (seeds) of statistic(group, idx) (idx None: all of its images).

    Each replicate draws G groups with replacement, then an image resample idx within each drawn group; with fewer
    than FEW_CLUSTERS groups the interval is estimate +- t_{G-1} x (replicate sd), else the replicates' percentiles.
    `sizes[g]` is the number of images of group g (default len(group)). `few_t=False` keeps the percentiles for few
    groups too: right when groups carry no effect of their own (replicate seeds of one cell only redraw images, so
    the image level already holds the seed-to-seed spread), where t with G - 1 df would be needlessly wide.
    `batch(group, idx [M, size])` -> [M], when given, scores all resamples of one group at once (the same numbers as
    statistic(group, idx) row by row; e.g. SetMetrics.replicates).
    """
    _check_level(level)
    G, rng = len(groups), _rng(seed)
    if G < 1:
        raise ValueError("hierarchical: need at least one group (seed)")
    sizes = [len(g) for g in groups] if sizes is None else list(sizes)
    estimate = float(np.mean([statistic(g, None) for g in groups]))
    # draw every replicate's resamples first: level 1 picks G seeds with replacement, level 2 an image resample in each
    picks, draws = [], []
    for r in range(n_boot):
        pick = rng.integers(0, G, size=G) if G > 1 else np.zeros(1, dtype=int)
        picks.append(pick)
        draws.append([rng.integers(0, sizes[g], size=sizes[g]) for g in pick])
    values = [np.empty(len(p)) for p in picks]
    if batch is None:
        for r in range(n_boot):
            values[r][:] = [statistic(groups[g], idx) for g, idx in zip(picks[r], draws[r])]
    else:
        for g in range(G):
            # every (replicate, slot) that drew group g, scored in one batched call
            where = [(r, j) for r in range(n_boot) for j, got in enumerate(picks[r]) if got == g]
            if where:
                scored = np.asarray(batch(groups[g], np.stack([draws[r][j] for r, j in where])), dtype=np.float64)
                for (r, j), v in zip(where, scored):
                    values[r][j] = v
    reps = np.array([v.mean() for v in values])
    method = f"hierarchical bootstrap ({G} seeds x images)"
    finite = reps[np.isfinite(reps)]       # a statistic may be undefined on a degenerate resample (one image drawn)
    if finite.size < 0.95 * n_boot or finite.size < 2:
        nan = float("nan")
        return Interval(estimate, nan, nan, nan, nan, sum(sizes), method + f": {n_boot - finite.size} of {n_boot} "
                        "replicates undefined (too few images)", level)
    reps = finite
    if few_t and 1 < G < FEW_CLUSTERS:
        return t_interval(estimate, float(reps.std(ddof=1)), G - 1, sum(sizes), level, method + f", t with {G - 1} df")
    return _percentile(estimate, reps, sum(sizes), level, method)


def cluster_mean(values, clusters, *, n_boot: int = 2000, level: float = LEVEL, seed=0) -> Interval:
    """Mean over clusters of the within-cluster means (targets x samples of an inverse problem).

    Few clusters (G < FEW_CLUSTERS): t interval on the G cluster means with G - 1 df (the between-cluster spread
    already holds the within-cluster noise). Otherwise two-level bootstrap: clusters, then samples within a cluster.
    """
    _check_level(level)
    values = _finite(values, "values")
    clusters = np.asarray(clusters).ravel()
    if clusters.size != values.size:
        raise ValueError(f"clusters: need one label per value ({values.size}), got {clusters.size}")
    labels = np.unique(clusters)
    members = [values[clusters == c] for c in labels]
    means = np.array([v.mean() for v in members])
    G = len(labels)
    if G < 2:
        raise ValueError("cluster_mean: need at least 2 clusters (targets) for an interval")
    estimate = float(means.mean())
    if G < FEW_CLUSTERS:
        return t_interval(estimate, float(means.std(ddof=1) / math.sqrt(G)), G - 1, values.size, level,
                          f"cluster t ({G} targets, {G - 1} df)")
    return hierarchical(members, lambda v, idx: float(v.mean() if idx is None else v[idx].mean()), n_boot=n_boot,
                        level=level, seed=seed)


def decide(interval: Interval) -> str:
    """`a < b` when the whole interval of a - b lies below 0, `a > b` when above, else `undecided`."""
    if not (np.isfinite(interval.lo) and np.isfinite(interval.hi)):
        return UNDECIDED
    if interval.hi < 0:
        return A_LT_B
    if interval.lo > 0:
        return A_GT_B
    return UNDECIDED


def better_arm(decision: str, direction: str) -> str:
    """Which arm is better (`a`, `b` or `-`) given a decision and the metric's better direction (lower | higher)."""
    if direction not in (LOWER, HIGHER):
        raise ValueError(f"direction: need {LOWER!r} or {HIGHER!r}, got {direction!r}")
    if decision == UNDECIDED:
        return "-"
    a_lower = decision == A_LT_B
    return "a" if a_lower == (direction == LOWER) else "b"


def benjamini_hochberg(p_values, q: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg step-up at FDR q: (rejected mask, adjusted p-values), NaN p-values never rejected (and their
    adjusted value NaN). The adjustment is scipy.stats.false_discovery_control (method "bh") over the finite p-values."""
    from scipy.stats import false_discovery_control

    if not 0 < q < 1:
        raise ValueError(f"q: need a false discovery rate strictly between 0 and 1, got {q}")
    p = np.asarray(p_values, dtype=np.float64)
    ok = np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    rejected = np.zeros(p.shape, dtype=bool)
    if ok.any():
        adjusted[ok] = false_discovery_control(p[ok], method="bh")
        rejected[ok] = adjusted[ok] <= q
    return rejected, adjusted


def holm(p_values, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm step-down at family-wise level alpha: (rejected mask, adjusted p-values)."""
    p = np.asarray(p_values, dtype=np.float64)
    ok = np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    rejected = np.zeros(p.shape, dtype=bool)
    m = int(ok.sum())
    if m == 0:
        return rejected, adjusted
    pv = p[ok]
    order = np.argsort(pv)
    adj = np.maximum.accumulate(pv[order] * (m - np.arange(m))).clip(max=1.0)
    out = np.empty(m)
    out[order] = adj
    adjusted[ok] = out
    rejected[ok] = out <= alpha
    return rejected, adjusted


def tost(interval90: Interval, margin: float) -> str:
    """Two one-sided tests at 5 %: `equivalent` when the 90 % interval of a - b lies inside (-margin, margin)."""
    if not margin > 0:
        raise ValueError(f"margin: need an equivalence margin D > 0 stated in the config, got {margin}")
    if abs(interval90.level - 0.90) > 1e-12:
        raise ValueError(f"tost: need a 90 % interval (two one-sided 5 % tests), got level {interval90.level}")
    if np.isfinite(interval90.lo) and np.isfinite(interval90.hi) and -margin < interval90.lo and interval90.hi < margin:
        return EQUIVALENT
    return NOT_EQUIVALENT


def sample_size(n0: int, sd0: float, difference: float, factor: float = 2.8) -> int:
    """n ~ n0 (2.8 sd(n0) / D)^2: samples to decide a difference D at 95 % with 80 % power (sd falls as 1/sqrt(n))."""
    if not (n0 > 0 and sd0 >= 0 and difference > 0):
        raise ValueError(f"sample_size: need n0 > 0, sd0 >= 0 and D > 0, got {n0}, {sd0}, {difference}")
    return int(math.ceil(n0 * (factor * sd0 / difference) ** 2))


__all__ = ["Interval", "LEVEL", "FEW_CLUSTERS", "LOWER", "HIGHER", "A_LT_B", "A_GT_B", "UNDECIDED", "EQUIVALENT",
           "NOT_EQUIVALENT", "bootstrap_p", "normal_p", "t_quantile", "t_interval", "paired_mean", "paired_set", "hierarchical",
           "cluster_mean", "decide", "better_arm", "benjamini_hochberg", "holm", "tost", "sample_size"]
