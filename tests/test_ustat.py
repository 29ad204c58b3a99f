"""rwbench.metrics.ustat: variance formulas against brute force, decisions on hand cases, design numbers by hand."""

import math

import numpy as np
import pytest

from rwbench.metrics import intervals as iv
from rwbench.metrics import ustat


def _d(x, y):
    return np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))


def _u(x):
    return _d(x, x).sum() / (len(x) * (len(x) - 1))


def _diff(a, b, r):
    return 2 * _d(a, r).mean() - 2 * _d(b, r).mean() - _u(a) + _u(b)


def _floor(a, r):
    return 2 * _d(a, r).mean() - _u(a) - _u(r)


def _jk(values):
    k = len(values)
    return (k - 1) / k * ((values - values.mean()) ** 2).sum()


@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 3)), rng.normal(size=(7, 3)) + 0.3, rng.normal(size=(9, 3))


@pytest.mark.parametrize("paired", [True, False])
def test_energy_difference_jackknife_equals_brute_force_delete_one(tiny, paired):
    a, b, r = tiny
    if paired:
        var = _jk(np.array([_diff(np.delete(a, i, 0), np.delete(b, i, 0), r) for i in range(len(a))]))
    else:
        var = (_jk(np.array([_diff(np.delete(a, i, 0), b, r) for i in range(len(a))]))
               + _jk(np.array([_diff(a, np.delete(b, i, 0), r) for i in range(len(b))])))
    var += _jk(np.array([_diff(a, b, np.delete(r, j, 0)) for j in range(len(r))]))
    got = ustat.energy_difference(a, b, r, paired=paired, variance="jackknife")
    assert got.estimate == pytest.approx(_diff(a, b, r), abs=1e-12)
    assert got.se ** 2 == pytest.approx(var, rel=1e-10)


def _disjoint_mean(values):
    """Brute force: mean over pairs of index tuples that share no index of f(t) f(t')."""
    return np.mean(values) if values else 0.0


@pytest.mark.parametrize("paired", [True, False])
def test_energy_difference_unbiased_variance_equals_brute_force_disjoint_tuples(tiny, paired):
    a, b, r = tiny
    a, b, r = a[:5], b[:5 if paired else 6], r[:5]
    n, nb, m = len(a), len(b), len(r)
    # D = mean over tuples of phi; Var_hat = D^2 - mean over disjoint tuple pairs of phi phi'
    terms = []   # (weight, index set, value): D = sum weight * value over terms
    for i in range(n):
        for q in range(m):
            terms.append((2 / (n * m), {("a" if not paired else "u", i), ("r", q)}, np.linalg.norm(a[i] - r[q])))
    for i in range(nb):
        for q in range(m):
            terms.append((-2 / (nb * m), {("b" if not paired else "u", i), ("r", q)}, np.linalg.norm(b[i] - r[q])))
    for i in range(n):
        for j in range(n):
            if i != j:
                terms.append((-1 / (n * (n - 1)), {("a" if not paired else "u", i), ("a" if not paired else "u", j)},
                               np.linalg.norm(a[i] - a[j])))
    for i in range(nb):
        for j in range(nb):
            if i != j:
                terms.append((1 / (nb * (nb - 1)), {("b" if not paired else "u", i), ("b" if not paired else "u", j)},
                              np.linalg.norm(b[i] - b[j])))
    # the unbiased estimate of (E D)^2: each product of two terms' expectations, estimated from disjoint index pairs
    groups = {}   # terms grouped by kind so that each kind's mean over its tuples estimates its expectation
    for w, idx, v in terms:
        kind = (w, tuple(sorted(k for k, _ in idx)))
        groups.setdefault(kind, []).append((idx, v))
    est_sq = 0.0
    kinds = list(groups)
    for k1 in kinds:
        for k2 in kinds:
            prods = [v1 * v2 for i1, v1 in groups[k1] for i2, v2 in groups[k2] if not (i1 & i2)]
            est_sq += k1[0] * len(groups[k1]) * k2[0] * len(groups[k2]) * _disjoint_mean(prods)
    est = _diff(a, b, r)
    got = ustat.energy_difference(a, b, r, paired=paired)
    var = est * est - est_sq
    assert got.estimate == pytest.approx(est, abs=1e-12)
    assert max(var, 0.0) == pytest.approx(got.se ** 2, rel=1e-9, abs=1e-13)
    e2, v2 = ustat.energy_difference_variance(*(lambda p: (p.ka, p.kb, p.wa, p.wb))(ustat.EnergyParts(a, r, b)),
                                              paired=paired)
    assert v2 == pytest.approx(var, rel=1e-9, abs=1e-13)


def test_floor_unbiased_variance_is_unbiased_by_simulation():
    rng = np.random.default_rng(1)
    vals, vars_ = [], []
    for _ in range(1500):
        a, r = rng.normal(size=(10, 2)) * 1.3, rng.normal(size=(12, 2))
        p = ustat.EnergyParts(a, r, with_ref=True)
        e, v = ustat.energy_floor_variance(p.ka, p.wa, p.wr)
        vals.append(e)
        vars_.append(v)
    se_of_mean_var = np.std(vars_) / math.sqrt(len(vars_))
    assert abs(np.mean(vars_) - np.var(vals)) < 4 * se_of_mean_var + 0.05 * np.var(vals)


def test_energy_distance_matches_distances_module():
    import torch

    from rwbench.metrics.distances import energy_distance

    rng = np.random.default_rng(2)
    a, r = rng.random((20, 16)), rng.random((30, 16))
    assert ustat.energy_distance(a, r) == pytest.approx(energy_distance(torch.from_numpy(a), torch.from_numpy(r)),
                                                        abs=1e-12)
    assert ustat.energy_distance(a, r) == pytest.approx(_floor(a, r), abs=1e-12)


def test_floor_permutation_p_is_small_for_a_shifted_sample_and_not_for_an_exact_one():
    rng = np.random.default_rng(3)
    r = rng.normal(size=(120, 4))
    far = ustat.energy_vs_floor(rng.normal(size=(40, 4)) + 1.0, r, n_perm=199, seed=0)
    near = ustat.energy_vs_floor(rng.normal(size=(40, 4)), r, n_perm=199, seed=0)
    assert far.p == pytest.approx(1 / 200) and far.lo > 0
    assert near.p > 0.05
    exact = rng.normal(size=(40, 4))
    with_exact = ustat.energy_vs_floor(rng.normal(size=(40, 4)) + 1.0, r, exact=exact, n_perm=19, seed=0)
    assert "difference to 40 exact draws" in with_exact.method and with_exact.lo > 0
    a2 = rng.normal(size=(40, 4))
    d = ustat.energy_difference(a2, exact, r, paired=False)
    got = ustat.energy_vs_floor(a2, r, exact=exact, n_perm=19)
    assert (got.estimate, got.lo, got.hi) == pytest.approx((d.estimate, d.lo, d.hi), rel=1e-12)


def test_fid_reference_jackknife_equals_refits():
    from rwbench.metrics.fidelity import SetMetrics, reference_from_features

    rng = np.random.default_rng(4)
    fa, fb, fr = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) * 1.2, rng.normal(size=(12, 3))
    loo = ustat.fid_reference_jackknife(fa, fb, fr)
    for j in (0, 5, 11):
        ref = reference_from_features(np.delete(fr, j, 0))
        assert loo[j] == pytest.approx(SetMetrics(fa, ref).fid() - SetMetrics(fb, ref).fid(), rel=1e-9, abs=1e-12)
    assert ustat.fid_reference_se(fa, fb, fr) == pytest.approx(math.sqrt(_jk(loo)), rel=1e-12)


@pytest.mark.parametrize("paired", [True, False])
def test_fid_image_jackknife_equals_refits(paired):
    from rwbench.metrics.fidelity import SetMetrics, reference_from_features

    rng = np.random.default_rng(7)
    fa, fb, fr = rng.normal(size=(9, 3)), rng.normal(size=(9, 3)) * 1.3, rng.normal(size=(20, 3))
    ref = reference_from_features(fr)
    fid = lambda x: SetMetrics(x, ref).fid()  # noqa: E731
    if paired:
        want = _jk(np.array([fid(np.delete(fa, i, 0)) - fid(np.delete(fb, i, 0)) for i in range(9)]))
    else:
        want = (_jk(np.array([fid(np.delete(fa, i, 0)) for i in range(9)]))
                + _jk(np.array([fid(np.delete(fb, i, 0)) for i in range(9)])))
    assert ustat.fid_image_jackknife(fa, fb, fr, paired=paired) == pytest.approx(want, rel=1e-9)


def test_fid_difference_paired_bootstrap_and_estimate():
    from rwbench.metrics.fidelity import SetMetrics, reference_from_features

    rng = np.random.default_rng(5)
    fa, fr = rng.normal(size=(60, 3)), rng.normal(size=(200, 3))
    fb = fa * 1.5
    out = ustat.fid_difference(fa, fb, fr, n_boot=2000, seed=1)
    ref = reference_from_features(fr)
    assert out.estimate == pytest.approx(SetMetrics(fa, ref).fid() - SetMetrics(fb, ref).fid(), rel=1e-10)
    assert out.lo < out.estimate < out.hi and out.hi < 0 and out.reference_se > 0
    corrected = ustat.fid_difference(fa, fb, fr, n_boot=2000, seed=1, method="corrected")
    v = 2 * ustat.fid_image_jackknife(fa, fb, fr) - out.se ** 2
    assert corrected.se == pytest.approx(math.sqrt(v), rel=1e-9) and corrected.estimate == out.estimate
    with pytest.raises(ValueError, match="B >= 2000"):
        ustat.fid_difference(fa, fb, fr, n_boot=500)


def test_mean_difference_and_ratio_vs_one_by_hand():
    x, y = np.array([1.0, 2.0, 4.0, 7.0]), np.array([0.5, 2.5, 3.0, 5.0])
    d = x - y
    out = ustat.mean_difference(x, y)
    se = d.std(ddof=1) / 2
    assert out.estimate == pytest.approx(d.mean()) and out.se == pytest.approx(se)
    assert out.hi - out.estimate == pytest.approx(3.182446305284263 * se, rel=1e-9)
    w = ustat.mean_difference(x, y, paired=False)
    vx, vy = x.var(ddof=1) / 4, y.var(ddof=1) / 4
    df = (vx + vy) ** 2 / (vx ** 2 / 3 + vy ** 2 / 3)
    from scipy import stats

    assert w.se == pytest.approx(math.sqrt(vx + vy)) and w.hi - w.estimate == pytest.approx(
        stats.t.ppf(0.975, df) * w.se)
    r = ustat.ratio_vs_one([0.9, 1.2, 1.1, 0.8, 1.0])
    assert r.estimate == pytest.approx(0.0, abs=1e-12) and r.lo < 0 < r.hi
    with pytest.raises(ValueError, match="pair them"):
        ustat.mean_difference(x, y[:3])


def test_variance_ratio_has_expectation_one_for_exact_draws():
    rng = np.random.default_rng(6)
    cov = np.diag([1.0, 4.0, 0.25])
    x = rng.multivariate_normal([1.0, 2.0, 3.0], cov, size=20000)
    out = ustat.ratio_vs_one(ustat.variance_ratio(x, [1.0, 2.0, 3.0], np.trace(cov)))
    assert out.lo < 0 < out.hi


def _iv(lo, hi, level):
    return iv.Interval((lo + hi) / 2, lo, hi, (hi - lo) / 4, 0.5, 10, "hand", level)


@pytest.mark.parametrize("lo,hi,direction,claimed,want", [
    (-0.3, -0.1, "lower", "a better", "supported"),
    (-0.3, -0.1, "higher", "a better", "contradicted"),
    (0.1, 0.3, "higher", "a better", "supported"),
    (0.1, 0.3, "lower", "b better", "supported"),
    (-0.1, 0.3, "lower", "a better", "undecided"),
    (0.1, 0.3, "lower", "differ", "supported"),
    (-0.1, 0.3, "lower", "differ", "undecided"),
])
def test_decide_claim_difference(lo, hi, direction, claimed, want):
    assert ustat.decide_claim(_iv(lo, hi, 0.95), "difference", None, direction, claimed) == want


@pytest.mark.parametrize("lo,hi,direction,want", [
    (-0.2, 0.04, "lower", "supported"),      # upper < D = 0.05
    (-0.2, 0.06, "lower", "undecided"),
    (0.06, 0.2, "lower", "contradicted"),    # lower > D: a worse by more than the margin
    (-0.04, 0.2, "higher", "supported"),     # lower > -D
    (-0.2, -0.06, "higher", "contradicted"),
    (-0.06, 0.2, "higher", "undecided"),
])
def test_decide_claim_non_inferiority(lo, hi, direction, want):
    assert ustat.decide_claim(_iv(lo, hi, 0.90), "non-inferiority", 0.05, direction) == want


@pytest.mark.parametrize("lo,hi,want", [(-0.04, 0.04, "supported"), (-0.06, 0.04, "undecided"),
                                        (0.05, 0.2, "contradicted"), (-0.3, -0.05, "contradicted"),
                                        (-0.3, 0.3, "undecided")])
def test_decide_claim_equivalence(lo, hi, want):
    assert ustat.decide_claim(_iv(lo, hi, 0.90), "equivalence", 0.05) == want


def test_decide_claim_rejects_wrong_level_and_missing_margin():
    with pytest.raises(ValueError, match="90 % interval"):
        ustat.decide_claim(_iv(-1, 1, 0.95), "equivalence", 0.1)
    with pytest.raises(ValueError, match="margin"):
        ustat.decide_claim(_iv(-1, 1, 0.90), "non-inferiority", None)
    assert ustat.decide_claim(_iv(float("nan"), 1, 0.95), "difference") == "undecided"
    assert ustat.claim_level("non-inferiority") == 0.90 and ustat.claim_level("difference") == 0.95


def test_design_n_and_mdd_by_hand():
    z = 1.959963984540054 + 0.8416212335729143
    assert ustat.mdd(0.01) == pytest.approx(z * 0.01, rel=1e-12)
    assert ustat.mdd(0.01, sided=1) == pytest.approx((1.6448536269514722 + 0.8416212335729143) * 0.01, rel=1e-12)
    assert ustat.design_n(1.0, 0.5) == math.ceil((z / 0.5) ** 2) == 32
    assert ustat.design_n(2.0, 0.1, power=0.9) == math.ceil(((1.959963984540054 + 1.2815515655446004) * 20) ** 2)
    with pytest.raises(ValueError):
        ustat.design_n(1.0, 0.0)


def test_pooled_homogeneous_seeds_use_within_variance():
    out = ustat.pooled([0.01, 0.012, 0.009], [0.003, 0.003, 0.004])
    assert out.estimate == pytest.approx(0.031 / 3)
    assert out.se == pytest.approx(math.sqrt(0.003 ** 2 * 2 + 0.004 ** 2) / 3)
    assert "within-seed" in out.method


def test_pooled_heterogeneous_seeds_need_five_and_widen():
    few = ustat.pooled([0.0, 0.1, -0.1], [0.001, 0.001, 0.001])
    assert math.isnan(few.lo) and ustat.decide_claim(few, "difference") == "undecided"
    e = np.array([0.0, 0.1, -0.1, 0.05, -0.05])
    s = np.full(5, 0.001)
    many = ustat.pooled(e, s)
    w = 1 / s ** 2
    Q = ((e - e.mean()) ** 2 * w).sum()
    tau2 = (Q - 4) / (w.sum() - (w ** 2).sum() / w.sum())
    assert many.se == pytest.approx(math.sqrt((s ** 2 + tau2).sum()) / 5)
    assert "t 4 df" in many.method
