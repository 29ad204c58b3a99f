"""Intervals the claims ledger calls (numpy/scipy only; coverage proven by simulation in rwbench.tools.coverage,
table and derivations in docs/statistics.md).

- `energy_difference`: ED(A, R) - ED(B, R) of two samples against one reference sample, paired or unpaired, with the
  unbiased U-statistic variance (default) or the delete-one jackknife (closed forms from row and column sums).
- `energy_vs_floor`: ED(A, R) with its U-statistic interval and a permutation p-value for "A is an exact draw".
- `mean_difference`, `ratio_vs_one`: t intervals for per-image statistics with exact expectations.
- `fid_difference`: paired bootstrap of FID(A) - FID(B) against fixed reference statistics, plus the reference's own
  noise (delete-one jackknife over reference images) reported apart.
- `pooled`: several seeds' estimates with their within-seed standard errors (random effects when seeds disagree).
- `decide_claim`, `claim_level`: difference / non-inferiority / equivalence decisions.
- `design_n`, `mdd`: sample size and minimal detectable difference.

Energy distance: ED(P, Q) = 2 E|X - Y| - E|X - X'| - E|Y - Y'|, each term a U-statistic (pairs of one image with
itself left out). All estimators here are unbiased for their population value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rwbench.metrics.intervals import (HIGHER, LEVEL, LOWER, Interval, _check_level, _finite, normal_p,
                                       t_interval)

SUPPORTED, CONTRADICTED = "supported", "contradicted"
UNDECIDED_CLAIM = "undecided"
DIFFERENCE, NON_INFERIORITY, EQUIVALENCE = "difference", "non-inferiority", "equivalence"
QUESTIONS = (DIFFERENCE, NON_INFERIORITY, EQUIVALENCE)
MIN_SEEDS_T = 5      # a t interval whose only variance source is the seeds needs at least this many seeds


@dataclass(frozen=True)
class RefInterval(Interval):
    """An Interval conditional on a fixed reference sample, with the reference's own noise (se) stated apart."""

    reference_se: float = float("nan")


# ---------------------------------------------------------------------------------------------- helpers


def _points(x, name: str, min_rows: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = x.reshape(len(x), -1)
    if len(x) < min_rows:
        raise ValueError(f"{name}: need at least {min_rows} images as an array [n, d], got {len(x)}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: {int((~np.isfinite(x)).sum())} non-finite value(s); drop diverged images first")
    return x


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances |a_i - b_j| [n, m] (float64, |a|^2 + |b|^2 - 2 a.b clipped at 0: relative error ~1e-15
    for distances of order one; rows of one set against themselves need the zero diagonal set by the caller)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0))


def _within(x: np.ndarray) -> np.ndarray:
    w = distances(x, x)
    np.fill_diagonal(w, 0.0)
    return 0.5 * (w + w.T)


def _u(w: np.ndarray) -> float:
    """mean_{i != j} w_ij of a zero-diagonal matrix."""
    n = len(w)
    return float(w.sum() / (n * (n - 1)))


def _q_cross(k: np.ndarray) -> float:
    """Unbiased estimate of (E K)^2 from K [n, m] (row units i, column units a): mean over i != i', a != a'."""
    n, m = k.shape
    s, r, c = k.sum(), k.sum(1), k.sum(0)
    return float((s * s - r @ r - c @ c + (k * k).sum()) / (n * (n - 1) * m * (m - 1)))


def _q_within(w: np.ndarray) -> float:
    """Unbiased estimate of (E W)^2 from a zero-diagonal symmetric W [n, n]: mean over 4 distinct indices."""
    n = len(w)
    s, r = w.sum(), w.sum(1)
    return float((s * s - 4.0 * (r @ r) + 2.0 * (w * w).sum()) / (n * (n - 1) * (n - 2) * (n - 3)))


def _q_cross_within(k: np.ndarray, w: np.ndarray) -> float:
    """Unbiased (E K)(E W) where the rows of K [n, m] and W [n, n] index the same units: i not in {j, k}."""
    n, m = k.shape
    r, l = k.sum(1), w.sum(1)
    return float(r @ (w.sum() - 2.0 * l) / (n * (n - 1) * (n - 2) * m))


def _q_shared_columns(k1: np.ndarray, k2: np.ndarray) -> float:
    """Unbiased (E K1)(E K2) of K1 [n1, m], K2 [n2, m] with independent rows and shared columns: a != b."""
    n1, m = k1.shape
    n2 = k2.shape[0]
    c1, c2 = k1.sum(0), k2.sum(0)
    return float((k1.sum() * k2.sum() - c1 @ c2) / (n1 * n2 * m * (m - 1)))


def _normal(estimate: float, var: float, n: int, level: float, method: str) -> Interval:
    from scipy import stats

    se = math.sqrt(var) if var > 0 else 0.0
    z = float(stats.norm.ppf((1 + level) / 2))
    return Interval(float(estimate), float(estimate - z * se), float(estimate + z * se), se, normal_p(estimate, se),
                    int(n), method, level)


# ---------------------------------------------------------------------------------------------- energy distance


class EnergyParts:
    """Distance matrices of samples A [n, d] (and B) against a reference R [m, d]: KA = |a_i - y_r| [n, m],
    WA = |a_i - a_j| [n, n] (zero diagonal), likewise KB, WB; WR [m, m] only when asked for (floor tests)."""

    def __init__(self, a, ref, b=None, *, with_ref: bool = False, ref_within: np.ndarray | None = None):
        self.a = _points(a, "a", 4)
        self.ref = _points(ref, "ref", 4)
        if self.ref.shape[1] != self.a.shape[1]:
            raise ValueError(f"ref: {self.ref.shape[1]} values per image, a has {self.a.shape[1]}")
        self.ka, self.wa = distances(self.a, self.ref), _within(self.a)
        self.b = self.kb = self.wb = None
        if b is not None:
            self.b = _points(b, "b", 4)
            if self.b.shape[1] != self.a.shape[1]:
                raise ValueError(f"b: {self.b.shape[1]} values per image, a has {self.a.shape[1]}")
            self.kb, self.wb = distances(self.b, self.ref), _within(self.b)
        self.wr = ref_within
        if with_ref and self.wr is None:
            self.wr = _within(self.ref)


def energy_difference(a, b, ref, *, paired: bool = True, level: float = LEVEL, variance: str = "unbiased",
                      parts: EnergyParts | None = None) -> Interval:
    """Interval for ED(p_A, p) - ED(p_B, p) from samples a [n, d], b [n or n_b, d] and one reference sample ref [m, d].

    The estimator 2 mean|a - y| - 2 mean|b - y| - U(|a - a'|) + U(|b - b'|) is unbiased; the reference's E|Y - Y'|
    cancels exactly, its E|a - Y| - E|b - Y| does not (zero only when p_A = p_B), so the reference images are a
    source of variance and both estimators below include them.
    paired: image i of a and b share their seeds (one unit); else the arms are independent samples.
    variance: "unbiased" (default) - Var = D^2 - Q, Q the unbiased estimate of D's squared mean from disjoint index
    tuples (exactly unbiased for the variance of this U-statistic, including its degenerate second-order part, so it
    stays right when both arms are near exact); "jackknife" - delete-one over units (jointly over a and b when paired)
    and over reference images (closed forms; overstates the variance about twofold near the null, where the
    statistic is degenerate: docs/statistics.md). Normal quantiles (n >= 30 units; verified by simulation).
    """
    _check_level(level)
    if variance not in ("unbiased", "jackknife"):
        raise ValueError(f"variance: choose 'unbiased' or 'jackknife', got {variance!r}")
    p = parts or EnergyParts(a, ref, b)
    if p.b is None:
        raise ValueError("energy_difference: parts hold no second arm b")
    ka, kb, wa, wb = p.ka, p.kb, p.wa, p.wb
    n, m = ka.shape
    nb = kb.shape[0]
    if paired and nb != n:
        raise ValueError(f"paired: arms have {n} and {nb} images; pair them by image index or pass paired=False")
    est, var = energy_difference_variance(ka, kb, wa, wb, paired=paired, variance=variance)
    kind = "U-statistic variance" if variance == "unbiased" else "delete-one jackknife"
    method = f"energy difference, {kind} ({'paired' if paired else 'unpaired'}, normal)"
    return _normal(est, var, n + (0 if paired else nb), level, method)


def energy_difference_variance(ka, kb, wa, wb, *, paired: bool = True, variance: str = "unbiased"):
    """(estimate, variance estimate) of the energy difference from its distance matrices; the unbiased variance
    can come out negative by chance near the null (the interval then has width 0 and is read as undecidable)."""
    n, nb = len(ka), len(kb)
    ua, ub = _u(wa), _u(wb)
    est = 2.0 * ka.mean() - 2.0 * kb.mean() - ua + ub
    if variance == "jackknife":
        return float(est), energy_difference_jackknife(ka, kb, wa, wb, paired=paired)
    if paired:
        k, w = ka - kb, wa - wb
        q = 4.0 * _q_cross(k) - 4.0 * _q_cross_within(k, w) + _q_within(w)
    else:
        al, be = ka.mean(), kb.mean()
        q = (4.0 * _q_cross(ka) + 4.0 * _q_cross(kb) + _q_within(wa) + _q_within(wb)
             - 8.0 * _q_shared_columns(ka, kb) - 4.0 * _q_cross_within(ka, wa) + 4.0 * al * ub
             + 4.0 * be * ua - 4.0 * _q_cross_within(kb, wb) - 2.0 * ua * ub)
    return float(est), float(est * est - q)


def _jk(values: np.ndarray) -> float:
    """Delete-one jackknife variance (k - 1) / k sum (v_i - mean v)^2 of k leave-one-out values."""
    k = len(values)
    return float((k - 1) / k * ((values - values.mean()) ** 2).sum())


def energy_difference_jackknife(ka, kb, wa, wb, *, paired: bool = True) -> float:
    """Delete-one jackknife variance of the energy difference from its distance matrices (closed forms)."""
    n, m = ka.shape
    nb = kb.shape[0]
    sa, sb, ta, tb = ka.sum(), kb.sum(), wa.sum(), wb.sum()
    ua, ub = ta / (n * (n - 1)), tb / (nb * (nb - 1))
    ma, mb = sa / (n * m), sb / (nb * m)
    loo_a = 2 * (sa - ka.sum(1)) / ((n - 1) * m) - (ta - 2 * wa.sum(1)) / ((n - 1) * (n - 2))
    loo_b = 2 * (sb - kb.sum(1)) / ((nb - 1) * m) - (tb - 2 * wb.sum(1)) / ((nb - 1) * (nb - 2))
    loo_r = 2 * (sa - ka.sum(0)) / (n * (m - 1)) - 2 * (sb - kb.sum(0)) / (nb * (m - 1))
    if paired:
        var = _jk(loo_a - loo_b)
    else:
        var = _jk(loo_a - ub + 2 * mb) + _jk(2 * ma - ua - loo_b)
    return var + _jk(loo_r - ua + ub)


def energy_distance(a, ref) -> float:
    """ED(A, R) with U-statistics for both within terms (the same value as rwbench.metrics.distances)."""
    p = EnergyParts(a, ref, with_ref=True)
    return float(2.0 * p.ka.mean() - _u(p.wa) - _u(p.wr))


def energy_vs_floor(a, ref, *, exact=None, level: float = LEVEL, n_perm: int = 999, seed=0,
                    ref_within: np.ndarray | None = None, parts: EnergyParts | None = None) -> Interval:
    """Is sample a [n, d] distinguishable from exact draws ref [m, d]? p = the one-sided permutation p-value of
    ED(A, R) >= observed under exchangeability of a and ref (exact at any n: under the null ED is a degenerate
    U-statistic with a skewed law; the permutation distribution is its exact null).

    Interval for ED(p_A, p): with `exact` (n further exact draws, independent of ref: the exact-sampler floor as a
    second arm) that of the unpaired difference ED(A, R) - ED(E, R) (`energy_difference`, unbiased variance), whose
    law is symmetric under the null - the one to use. Without it, ED(A, R) +- z se from its unbiased variance, which
    under-covers near the null (0.80 at n = 128 in the coverage simulation, docs/statistics.md) and is marked so.
    `ref_within` (the reference's own distance matrix, zero diagonal) may be passed to reuse it across calls."""
    _check_level(level)
    p = parts or EnergyParts(a, ref, with_ref=True, ref_within=ref_within)
    if p.wr is None:
        p.wr = _within(p.ref)
    k, wa, wr = p.ka, p.wa, p.wr
    n = len(k)
    est, var = energy_floor_variance(k, wa, wr)
    pval = _permutation_p(k, wa, wr, est, n_perm, seed)
    if exact is not None:
        e = _points(exact, "exact", 4)
        if e.shape[1] != p.ref.shape[1]:
            raise ValueError(f"exact: {e.shape[1]} values per image, ref has {p.ref.shape[1]}")
        d, dvar = energy_difference_variance(k, distances(e, p.ref), wa, _within(e), paired=False)
        out = _normal(d, dvar, n + len(e), level, f"energy vs exact floor: difference to {len(e)} exact draws "
                      f"(U-statistic variance, normal); p one-sided permutation ({n_perm} permutations)")
    else:
        out = _normal(est, var, n, level, "energy vs exact floor: U-statistic variance (normal; under-covers near the "
                      f"null, pass exact= for a valid interval); p one-sided permutation ({n_perm} permutations)")
    return Interval(out.estimate, out.lo, out.hi, out.se, pval, out.n, out.method, out.level)


def energy_floor_variance(k, wa, wr) -> tuple[float, float]:
    """(ED(A, R), its unbiased U-statistic variance estimate) from K = |a_i - y_r|, W_A, W_R (zero diagonals)."""
    ua, ur = _u(wa), _u(wr)
    est = 2.0 * k.mean() - ua - ur
    q = (4.0 * _q_cross(k) + _q_within(wa) + _q_within(wr) - 4.0 * _q_cross_within(k, wa)
         - 4.0 * _q_cross_within(k.T, wr) + 2.0 * ua * ur)
    return float(est), float(est * est - q)


def _permutation_p(k, wa, wr, observed: float, n_perm: int, seed) -> float:
    if n_perm < 19:
        raise ValueError(f"n_perm: need at least 19 permutations for a 5 % test, got {n_perm}")
    n, m = k.shape
    N = n + m
    full = np.empty((N, N))
    full[:n, :n], full[:n, n:], full[n:, :n], full[n:, n:] = wa, k, k.T, wr
    rows, total = full.sum(1), full.sum()
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    stats = np.empty(n_perm)
    for start in range(0, n_perm, 64):
        stop = min(n_perm, start + 64)
        idx = np.argpartition(rng.random((stop - start, N)), n, axis=1)[:, :n]      # a random n-subset per row
        s_aa = full[idx[:, :, None], idx[:, None, :]].sum((1, 2))
        s_a = rows[idx].sum(1)
        s_ar, s_rr = s_a - s_aa, total - 2.0 * s_a + s_aa
        stats[start:stop] = 2.0 * s_ar / (n * m) - s_aa / (n * (n - 1)) - s_rr / (m * (m - 1))
    return float((1 + np.count_nonzero(stats >= observed - 1e-12 * abs(observed))) / (n_perm + 1))


# ---------------------------------------------------------------------------------------------- per-image means


def mean_difference(x, y=None, *, paired: bool = True, level: float = LEVEL) -> Interval:
    """t interval for mean(x) - mean(y) of per-image statistics (y omitted: x holds the differences or values).
    paired: d_i = x_i - y_i, n - 1 df; unpaired: Welch's interval (Satterthwaite df)."""
    _check_level(level)
    x = np.asarray(x, dtype=np.float64).ravel()
    if y is None or paired:
        d = x if y is None else x - _values(y, x.size)
        d = _finite(d, "differences")
        return t_interval(float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size)), d.size - 1, d.size, level,
                          f"paired t ({d.size} images, {d.size - 1} df)")
    x, y = _finite(x, "x"), _finite(y, "y")
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx * vx / (x.size - 1) + vy * vy / (y.size - 1)) if se > 0 else x.size + y.size - 2
    out = t_interval(float(x.mean() - y.mean()), se, 1, x.size + y.size, level)
    from scipy import stats

    q = float(stats.t.ppf((1 + level) / 2, df))
    est = out.estimate
    p = float(2 * stats.t.sf(abs(est) / se, df)) if se > 0 else (0.0 if est != 0 else 1.0)
    return Interval(est, est - q * se, est + q * se, se, p, x.size + y.size, f"Welch t ({df:.1f} df)", level)


def _values(y, size: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size != size:
        raise ValueError(f"paired: x has {size} values, y has {y.size}; pair them by image index or pass paired=False")
    return y


def ratio_vs_one(ratios, *, level: float = LEVEL) -> Interval:
    """t interval for mean(r) - 1 of per-image ratios with exact expectation 1 (e.g. the variance ratio
    |x_i - mu|^2 / tr Sigma of exact mixture draws): independent images, n - 1 df."""
    r = _finite(ratios, "ratios")
    out = mean_difference(r - 1.0, level=level)
    return Interval(out.estimate, out.lo, out.hi, out.se, out.p, out.n, f"ratio - 1, t ({r.size - 1} df)", level)


def variance_ratio(x, mu, trace: float) -> np.ndarray:
    """Per-image |x_i - mu|^2 / tr Sigma (expectation 1 for exact draws of a law with mean mu and covariance Sigma)."""
    x = _points(x, "x")
    return ((x - np.asarray(mu, np.float64).reshape(1, -1)) ** 2).sum(1) / float(trace)


# ---------------------------------------------------------------------------------------------- FID


def fid_difference(features_a, features_b, ref_features, *, paired: bool = True, n_boot: int = 2000,
                   level: float = LEVEL, seed=0, reference_se: bool = True, method: str = "percentile") -> RefInterval:
    """FID(A) - FID(B) against the fixed reference statistics of ref_features [m, D] (rwbench.metrics.fidelity.SetMetrics).

    Interval: percentile bootstrap over the generated images (B >= 2000; paired: one index resample shared by both
    arms), conditional on the reference; method="corrected": estimate +- z sqrt(2 V_jackknife - V_bootstrap).
    NEITHER IS VALIDATED at n = 128 (docs/statistics.md, coverage table): FID is a degenerate statistic there;
    the percentile interval never rejected a true null (coverage 1.00) but covered 0.875 off the null, the
    corrected one rejected a true null too often. Decide oracle claims on energy distance or the variance ratio. reference_se: the reference's own noise, a delete-one jackknife over the
    reference images of the same difference (mean and covariance downdated in closed form), reported apart; it does
    not cancel unless the arms have the same statistics."""
    from rwbench.metrics.fidelity import SetMetrics, reference_from_features

    _check_level(level)
    if n_boot < 2000:
        raise ValueError(f"n_boot: need B >= 2000 bootstrap replicates for a 95 % percentile interval, got {n_boot}")
    fa, fb, fr = _points(features_a, "features_a", 4), _points(features_b, "features_b", 4), _points(ref_features,
                                                                                                    "ref_features", 4)
    if paired and len(fa) != len(fb):
        raise ValueError(f"paired: arms have {len(fa)} and {len(fb)} images; pair them or pass paired=False")
    ref = reference_from_features(fr)
    sa, sb = SetMetrics(fa, ref), SetMetrics(fb, ref)
    est = sa.fid() - sb.fid()
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    reps = np.empty(n_boot)
    for start in range(0, n_boot, 250):
        stop = min(n_boot, start + 250)
        ia = rng.integers(0, len(fa), size=(stop - start, len(fa)))
        ib = ia if paired else rng.integers(0, len(fb), size=(stop - start, len(fb)))
        reps[start:stop] = (_fid_reps(sa, ia) - _fid_reps(sb, ib))
    alpha = (1 - level) / 2
    ref_se = fid_reference_se(fa, fb, fr) if reference_se else float("nan")
    n = len(fa) + (0 if paired else len(fb))
    if method == "percentile":
        lo, hi = np.quantile(reps, [alpha, 1 - alpha])
        se = float(reps.std(ddof=1))
        return RefInterval(float(est), float(lo), float(hi), se, normal_p(est, se), n,
                           f"FID difference, {'paired ' if paired else ''}percentile bootstrap (B = {n_boot}), "
                           "reference fixed", level, ref_se)
    if method != "corrected":
        raise ValueError(f"method: choose 'corrected' or 'percentile', got {method!r}")
    # second-order correction: the bootstrap overstates the degenerate (second-order) variance part about threefold,
    # the delete-one jackknife about twofold; 2 V_J - V_B removes it (von Mises expansion to second order)
    v_boot, v_jack = float(reps.var(ddof=1)), fid_image_jackknife(fa, fb, fr, paired=paired)
    out = _normal(est, 2.0 * v_jack - v_boot, n, level, f"FID difference, {'paired ' if paired else ''}2 V_jackknife - "
                  f"V_bootstrap (B = {n_boot}, normal), reference fixed")
    return RefInterval(out.estimate, out.lo, out.hi, out.se, out.p, out.n, out.method, level, ref_se)


def _fid_reps(sm, idx: np.ndarray) -> np.ndarray:
    counts = np.zeros((len(idx), sm.n))
    np.add.at(counts, (np.repeat(np.arange(len(idx)), idx.shape[1]), idx.ravel()), 1.0)
    return sm.replicates(counts)["fid"]


def _fid_terms(mu, sigma, mu_r, sigma_r) -> np.ndarray:
    """FID of one (mu, sigma) against a batch of reference statistics mu_r [k, D], sigma_r [k, D, D]."""
    from rwbench.metrics.fidelity import psd_eigenvalues

    w, v = np.linalg.eigh(sigma_r)
    w = np.maximum(w, 0.0)
    root = (v * np.sqrt(w)[:, None, :]) @ np.swapaxes(v, 1, 2)
    inner = np.linalg.eigvalsh(root @ sigma[None] @ root)
    tr_sqrt = np.array([np.sqrt(psd_eigenvalues(e)).sum() for e in inner])
    diff = mu[None] - mu_r
    return (diff * diff).sum(1) + np.trace(sigma) + np.trace(sigma_r, axis1=1, axis2=2) - 2.0 * tr_sqrt


def _loo_stats(f: np.ndarray):
    """Leave-one-out means [n, D] and unbiased covariances [n, D, D] of rows f [n, D] (closed-form downdates)."""
    n = len(f)
    mu = f.mean(0)
    e = f - mu
    sigma = e.T @ e / (n - 1)
    return mu[None] - e / (n - 1), ((n - 1) * sigma[None] - (n / (n - 1)) * e[:, :, None] * e[:, None, :]) / (n - 2)


def _fid_batch(mu, sigma, ref: dict) -> np.ndarray:
    """FID of a batch of statistics mu [k, D], sigma [k, D, D] against fixed reference terms (root of S_ref)."""
    from rwbench.metrics.fidelity import psd_eigenvalues

    root = ref["root"]
    inner = np.linalg.eigvalsh(root[None] @ sigma @ root[None])
    tr_sqrt = np.array([np.sqrt(psd_eigenvalues(w)).sum() for w in inner])
    diff = mu - ref["mu"][None]
    return (diff * diff).sum(1) + np.trace(sigma, axis1=1, axis2=2) + ref["trace"] - 2.0 * tr_sqrt


def fid_image_jackknife(features_a, features_b, ref_features, *, paired: bool = True) -> float:
    """Delete-one jackknife variance over the generated images of FID(A) - FID(B), reference fixed (jointly over
    image i of both arms when paired)."""
    from rwbench.metrics.fidelity import reference_from_features, reference_terms

    ref = reference_terms(reference_from_features(ref_features))
    la = _fid_batch(*_loo_stats(np.asarray(features_a, np.float64)), ref)
    lb = _fid_batch(*_loo_stats(np.asarray(features_b, np.float64)), ref)
    return _jk(la - lb) if paired else _jk(la) + _jk(lb)


def fid_reference_jackknife(features_a, features_b, ref_features) -> np.ndarray:
    """Leave-one-out values of FID(A) - FID(B) with reference image r deleted, r = 1..m (closed-form downdates of the
    reference mean and unbiased covariance)."""
    fa, fb, fr = (np.asarray(f, np.float64) for f in (features_a, features_b, ref_features))
    m = len(fr)
    mu_r = fr.mean(0)
    e = fr - mu_r
    sigma_r = e.T @ e / (m - 1)
    mu_loo = mu_r[None] - e / (m - 1)
    # (m - 2) S_(-r) = (m - 1) S - m / (m - 1) e_r e_r^T
    sig_loo = ((m - 1) * sigma_r[None] - (m / (m - 1)) * e[:, :, None] * e[:, None, :]) / (m - 2)
    out = np.empty(m)
    stats_a = (fa.mean(0), np.cov(fa, rowvar=False, ddof=1))
    stats_b = (fb.mean(0), np.cov(fb, rowvar=False, ddof=1))
    for start in range(0, m, 256):
        sl = slice(start, min(m, start + 256))
        out[sl] = (_fid_terms(*stats_a, mu_loo[sl], sig_loo[sl]) - _fid_terms(*stats_b, mu_loo[sl], sig_loo[sl]))
    return out


def fid_reference_se(features_a, features_b, ref_features) -> float:
    """Delete-one jackknife se over reference images of FID(A) - FID(B) (the reference's own noise)."""
    return math.sqrt(_jk(fid_reference_jackknife(features_a, features_b, ref_features)))


# ---------------------------------------------------------------------------------------------- seeds


def pooled(estimates, ses, *, level: float = LEVEL, alpha_het: float = 0.05) -> Interval:
    """Combine S per-seed estimates (same n each) with their within-seed standard errors.

    Estimate: the plain mean. Within-seed variance sum se_s^2 / S^2. Between-seed check: Cochran's
    Q = sum (e_s - mean)^2 / se_s^2 against chi^2_{S-1}; when it rejects at alpha_het the seeds disagree more than
    their images explain, and the DerSimonian-Laird tau^2 = max(0, (Q - (S - 1)) / (sum w - sum w^2 / sum w)) is
    added to every seed's variance with t quantiles on S - 1 df (needs S >= 5 for a usable interval: with fewer the
    interval is returned undecidable, NaN ends). Homogeneous seeds: normal quantiles on the within-seed variance."""
    from scipy import stats

    _check_level(level)
    e = np.asarray(estimates, dtype=np.float64).ravel()
    s = np.asarray(ses, dtype=np.float64).ravel()
    if e.size != s.size or e.size < 1:
        raise ValueError(f"pooled: need one se per estimate, got {e.size} estimates and {s.size} ses")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("pooled: estimates must be finite and ses finite and > 0 (a seed without a within-seed se "
                         "cannot be pooled; compute it with energy_difference / mean_difference)")
    S = e.size
    est = float(e.mean())
    var_within = float((s * s).sum() / (S * S))
    if S == 1:
        out = _normal(est, var_within, 1, level, "one seed, within-seed se (normal)")
        return out
    w = 1.0 / (s * s)
    Q = float(((e - est) ** 2 * w).sum())
    p_het = float(stats.chi2.sf(Q, S - 1))
    if p_het >= alpha_het:
        out = _normal(est, var_within, S, level, f"pooled {S} seeds, within-seed se (Q = {Q:.2f}, p = {p_het:.2f})")
        return out
    tau2 = max(0.0, (Q - (S - 1)) / (w.sum() - (w * w).sum() / w.sum()))
    se = math.sqrt(float((s * s + tau2).sum()) / (S * S))
    method = f"pooled {S} seeds, random effects (Q = {Q:.2f}, p = {p_het:.3f}, tau = {math.sqrt(tau2):.3g}), t {S - 1} df"
    if S < MIN_SEEDS_T:
        nan = float("nan")
        return Interval(est, nan, nan, se, nan, S, method + f": seeds disagree and fewer than {MIN_SEEDS_T} seeds "
                        "cannot estimate the between-seed variance; add seeds or images", level)
    return t_interval(est, se, S - 1, S, level, method)


# ---------------------------------------------------------------------------------------------- decisions


def claim_level(question: str) -> float:
    """Two-sided level of the interval a question is decided on: 0.95 for a difference, 0.90 (two one-sided 95 %
    bounds) for non-inferiority and equivalence."""
    if question not in QUESTIONS:
        raise ValueError(f"question: choose one of {', '.join(QUESTIONS)}, got {question!r}")
    return 0.95 if question == DIFFERENCE else 0.90


def decide_claim(interval: Interval, question: str, margin: float | None = None, direction: str = LOWER,
                 claimed: str = "a better") -> str:
    """Decide a claim about a - b from an interval at `claim_level(question)`; returns supported, contradicted or
    undecided. `direction`: the metric's better direction (lower | higher).

    difference (95 % interval): claimed "a better" (or "b better"): supported when the whole interval lies on the
        claimed side of 0, contradicted when it lies on the other side, else undecided; claimed "differ": supported
        when it excludes 0, else undecided.
    non-inferiority ("a is not worse than b by more than margin D > 0"; 90 % interval = one-sided 95 % bounds):
        lower is better: supported when upper < D, contradicted when lower > D (a worse by more than D);
        higher is better: supported when lower > -D, contradicted when upper < -D.
    equivalence (TOST at 5 %, 90 % interval): supported when (lower, upper) lies inside (-D, D); contradicted when
        the interval lies wholly beyond one margin (lower >= D or upper <= -D); else undecided.
    An interval with a NaN end is undecided.
    """
    need = claim_level(question)
    if abs(interval.level - need) > 1e-12:
        raise ValueError(f"decide_claim: a {question} claim is decided on a {100 * need:.0f} % interval, got level "
                         f"{interval.level}; build it with level=claim_level({question!r})")
    if direction not in (LOWER, HIGHER):
        raise ValueError(f"direction: need {LOWER!r} or {HIGHER!r}, got {direction!r}")
    lo, hi = interval.lo, interval.hi
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return UNDECIDED_CLAIM
    if question == DIFFERENCE:
        if claimed == "differ":
            return SUPPORTED if (hi < 0 or lo > 0) else UNDECIDED_CLAIM
        if claimed not in ("a better", "b better"):
            raise ValueError(f"claimed: choose 'a better', 'b better' or 'differ', got {claimed!r}")
        a_lower = hi < 0
        a_higher = lo > 0
        if not (a_lower or a_higher):
            return UNDECIDED_CLAIM
        a_better = a_lower if direction == LOWER else a_higher
        return SUPPORTED if a_better == (claimed == "a better") else CONTRADICTED
    if margin is None or not margin > 0:
        raise ValueError(f"margin: a {question} claim needs a margin D > 0 stated before the data, got {margin}")
    if question == NON_INFERIORITY:
        if direction == LOWER:
            return SUPPORTED if hi < margin else (CONTRADICTED if lo > margin else UNDECIDED_CLAIM)
        return SUPPORTED if lo > -margin else (CONTRADICTED if hi < -margin else UNDECIDED_CLAIM)
    if -margin < lo and hi < margin:
        return SUPPORTED
    if lo >= margin or hi <= -margin:
        return CONTRADICTED
    return UNDECIDED_CLAIM


# ---------------------------------------------------------------------------------------------- design


def _z(p: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(p))


def mdd(se: float, alpha: float = 0.05, power: float = 0.8, sided: int = 2) -> float:
    """Minimal detectable difference (z_{1 - alpha/sided} + z_power) se: the true effect a test with standard error
    se detects with probability `power` at level alpha."""
    if sided not in (1, 2) or not (0 < alpha < 1 and 0 < power < 1 and se >= 0):
        raise ValueError(f"mdd: need se >= 0, 0 < alpha, power < 1 and sided 1 or 2, got {se}, {alpha}, {power}, {sided}")
    return (_z(1 - alpha / sided) + _z(power)) * float(se)


def design_n(sd_per_image: float, effect: float, alpha: float = 0.05, power: float = 0.8, sided: int = 2) -> int:
    """Images per arm (paired: pairs) so that a mean of per-image values with sd `sd_per_image` detects `effect`:
    n = ceil(((z_{1 - alpha/sided} + z_power) sd / effect)^2). For a set metric use its per-image sd from a pilot
    (se(n0) sqrt(n0)); near the null an energy distance's se falls like 1/n, so this n is conservative there."""
    if not (sd_per_image >= 0 and effect > 0):
        raise ValueError(f"design_n: need sd_per_image >= 0 and effect > 0, got {sd_per_image}, {effect}")
    return max(2, int(math.ceil((mdd(sd_per_image, alpha, power, sided) / effect) ** 2 - 1e-9)))


__all__ = ["RefInterval", "SUPPORTED", "CONTRADICTED", "UNDECIDED_CLAIM", "DIFFERENCE", "NON_INFERIORITY",
           "EQUIVALENCE", "QUESTIONS", "MIN_SEEDS_T", "distances", "EnergyParts", "energy_difference",
           "energy_difference_jackknife", "energy_difference_variance", "energy_floor_variance",
           "energy_distance", "energy_vs_floor", "mean_difference", "ratio_vs_one",
           "variance_ratio", "fid_difference", "fid_image_jackknife", "fid_reference_jackknife", "fid_reference_se", "pooled", "claim_level",
           "decide_claim", "mdd", "design_n"]
