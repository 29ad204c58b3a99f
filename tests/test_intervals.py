"""rwbench.metrics.intervals: bootstrap intervals against closed forms, coverage at small sizes, BH/Holm, decisions, TOST."""

import math

import numpy as np
import pytest

from rwbench.metrics import intervals as iv


def test_paired_mean_matches_large_sample_t_interval():
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 2.0, 400)
    b = a - rng.normal(0.3, 1.0, 400)          # paired: d = a - b ~ N(0.3, 1)
    out = iv.paired_mean(a, b, n_boot=4000, seed=2)
    d = a - b
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert out.estimate == pytest.approx(d.mean(), abs=1e-12)
    assert out.se == pytest.approx(se, rel=0.06)
    assert out.lo == pytest.approx(d.mean() - 1.96 * se, abs=0.2 * se)
    assert out.hi == pytest.approx(d.mean() + 1.96 * se, abs=0.2 * se)
    assert iv.decide(out) == iv.A_GT_B


def test_paired_set_with_mean_statistic_equals_paired_mean():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=200), rng.normal(size=200)
    mean = lambda x: float(x.mean())  # noqa: E731
    s = iv.paired_set(mean, a, b, n_boot=300, seed=5)
    m = iv.paired_mean(a, b, n_boot=300, seed=5)   # same generator stream: the same index draws
    assert s.estimate == pytest.approx(m.estimate, abs=1e-12)
    assert s.lo == pytest.approx(m.lo, abs=1e-12) and s.hi == pytest.approx(m.hi, abs=1e-12)


def test_paired_set_pairing_cancels_shared_noise():
    rng = np.random.default_rng(4)
    shared = rng.normal(0, 5.0, 300)                 # per-image noise both arms share (same seeds)
    a, b = shared + 0.2 + rng.normal(0, 0.1, 300), shared + rng.normal(0, 0.1, 300)
    var = lambda x: float(np.mean(x))  # noqa: E731
    paired = iv.paired_set(var, a, b, n_boot=500, seed=0)
    assert paired.hi - paired.lo < 0.1 and iv.decide(paired) == iv.A_GT_B


def test_m_out_of_n_spread_matches_full_sample_se():
    rng = np.random.default_rng(6)
    d = rng.normal(0.0, 1.0, 400)
    out = iv.paired_set(lambda x: float(x.mean()), d, np.zeros_like(d), n_boot=3000, seed=1, m=100)
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert out.estimate == pytest.approx(d.mean(), abs=1e-12)
    assert out.se == pytest.approx(se, rel=0.08)      # rescaled by sqrt(m / (n - m)), not sqrt(m / n)


def test_paired_set_rejects_unpaired_arms():
    with pytest.raises(ValueError, match="pair them"):
        iv.paired_set(np.mean, np.zeros(5), np.zeros(6))


def test_cluster_mean_few_targets_is_the_t_interval_on_target_means():
    values = np.array([1.0, 2.0, 3.0, 5.0, 4.0, 6.0, 0.0, 2.0])
    clusters = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    out = iv.cluster_mean(values, clusters)
    means = np.array([1.5, 4.0, 5.0, 1.0])
    se = means.std(ddof=1) / 2
    q = 3.182446305284263                              # t_{0.975, 3}
    assert out.estimate == pytest.approx(means.mean(), abs=1e-12)
    assert out.lo == pytest.approx(means.mean() - q * se, abs=1e-9)
    assert out.hi == pytest.approx(means.mean() + q * se, abs=1e-9)


def test_cluster_coverage_with_four_targets():
    """4 targets x 8 samples with a target effect: the cluster t interval covers ~95 %, the iid bootstrap does not."""
    rng = np.random.default_rng(11)
    hits_cluster = hits_iid = 0
    R = 400
    clusters = np.repeat(np.arange(4), 8)
    for _ in range(R):
        values = np.repeat(rng.normal(0, 1.0, 4), 8) + rng.normal(0, 0.5, 32)   # true mean 0
        c = iv.cluster_mean(values, clusters)
        hits_cluster += c.lo <= 0 <= c.hi
        naive = iv.paired_mean(values, n_boot=200, seed=rng)
        hits_iid += naive.lo <= 0 <= naive.hi
    assert abs(hits_cluster / R - 0.95) < 0.035           # 3 MC standard errors at R = 400
    assert hits_iid / R < 0.75


def test_percentile_coverage_at_small_n():
    rng = np.random.default_rng(12)
    R, hits = 300, 0
    for _ in range(R):
        d = rng.normal(0.0, 1.0, 40)
        out = iv.paired_mean(d, n_boot=400, seed=rng)
        hits += out.lo <= 0 <= out.hi
    assert 0.89 < hits / R < 0.99      # percentile bootstrap at n = 40 slightly undercovers 0.95


def test_hierarchical_single_seed_reduces_to_image_bootstrap_and_seeds_widen():
    rng = np.random.default_rng(13)
    seeds = [rng.normal(loc, 1.0, 100) for loc in (0.0, 1.0, -1.0, 0.5)]
    stat = lambda v, idx: float(v.mean() if idx is None else v[idx].mean())  # noqa: E731
    one = iv.hierarchical(seeds[:1], stat, n_boot=500, seed=0)
    assert one.estimate == pytest.approx(seeds[0].mean())
    assert one.se == pytest.approx(seeds[0].std(ddof=1) / 10, rel=0.12)
    four = iv.hierarchical(seeds, stat, n_boot=500, seed=0)
    assert "3 df" in four.method
    assert four.estimate == pytest.approx(np.mean([s.mean() for s in seeds]))
    assert four.hi - four.lo > 4 * (one.hi - one.lo)      # seed-to-seed spread dominates


def test_hierarchical_batched_statistic_gives_the_same_interval():
    rng = np.random.default_rng(5)
    seeds = [rng.normal(loc, 1.0, 40) for loc in (0.0, 0.4)]
    stat = lambda v, idx: float(v.mean() if idx is None else v[idx].mean())  # noqa: E731
    calls = []

    def batch(v, idx):
        calls.append(idx.shape)
        return v[idx].mean(axis=1)

    rows = iv.hierarchical(seeds, stat, n_boot=300, seed=2)
    batched = iv.hierarchical(seeds, stat, n_boot=300, seed=2, batch=batch)
    assert len(calls) == 2 and sum(c[0] for c in calls) == 2 * 300 and calls[0][1] == 40   # one call per seed
    assert (batched.lo, batched.hi, batched.se) == pytest.approx((rows.lo, rows.hi, rows.se), abs=1e-12)


def test_decide_and_better_arm():
    mk = lambda lo, hi: iv.Interval(0.5 * (lo + hi), lo, hi, 1.0, 0.5, 10, "x")  # noqa: E731
    assert iv.decide(mk(-2, -1)) == iv.A_LT_B
    assert iv.decide(mk(1, 2)) == iv.A_GT_B
    assert iv.decide(mk(-1, 2)) == iv.UNDECIDED
    assert iv.decide(mk(float("nan"), 2)) == iv.UNDECIDED
    assert iv.better_arm(iv.A_LT_B, iv.LOWER) == "a" and iv.better_arm(iv.A_LT_B, iv.HIGHER) == "b"
    assert iv.better_arm(iv.A_GT_B, iv.HIGHER) == "a" and iv.better_arm(iv.UNDECIDED, iv.LOWER) == "-"
    with pytest.raises(ValueError):
        iv.better_arm(iv.A_LT_B, "smaller")


def test_benjamini_hochberg_known_values():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, np.nan])
    rejected, adjusted = iv.benjamini_hochberg(p, q=0.05)
    # sorted p: 0.005 0.01 0.03 0.04 0.5 (m = 5) -> p * m / rank = 0.025 0.025 0.05 0.05 0.5
    np.testing.assert_allclose(adjusted[:5], [0.025, 0.05, 0.05, 0.025, 0.5], atol=1e-15)
    assert rejected.tolist() == [True, True, True, True, False, False]
    assert np.isnan(adjusted[5])


def _bh_by_hand(p, q):
    """The step-up rule written out: reject the k smallest p where k is the largest rank with p_(k) <= k q / m;
    adjusted p_(i) = min over j >= i of m p_(j) / j, capped at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    m = len(p)
    k = max([r for r in range(1, m + 1) if p[order[r - 1]] <= r * q / m], default=0)
    rejected = [False] * m
    adjusted = [0.0] * m
    for rank, i in enumerate(order, start=1):
        rejected[i] = rank <= k
        adjusted[i] = min(1.0, min(m * p[order[j - 1]] / j for j in range(rank, m + 1)))
    return rejected, adjusted


def test_benjamini_hochberg_goes_through_scipy_and_agrees_with_the_rule_by_hand(monkeypatch):
    import scipy.stats

    rng = np.random.default_rng(7)
    for m in (1, 2, 7, 40):
        p = np.concatenate([rng.uniform(0, 0.02, m // 2), rng.uniform(0, 1, m - m // 2)])
        p[-1] = p[0]                                                   # a tie
        for q in (0.05, 0.2):
            want_rej, want_adj = _bh_by_hand(p.tolist(), q)
            rejected, adjusted = iv.benjamini_hochberg(p, q=q)
            assert rejected.tolist() == want_rej
            np.testing.assert_allclose(adjusted, want_adj, rtol=1e-14, atol=0)
    calls = []
    real = scipy.stats.false_discovery_control
    monkeypatch.setattr(scipy.stats, "false_discovery_control", lambda ps, **kw: calls.append(kw) or real(ps, **kw))
    iv.benjamini_hochberg([0.01, np.nan, 0.2])
    assert calls == [{"method": "bh"}]
    assert iv.benjamini_hochberg([np.nan, np.nan])[0].tolist() == [False, False]
    with pytest.raises(ValueError, match="false discovery rate"):
        iv.benjamini_hochberg([0.01], q=1.5)


def test_holm_known_values():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    rejected, adjusted = iv.holm(p, alpha=0.05)
    # sorted 0.005 0.01 0.03 0.04 times 4 3 2 1 -> 0.02 0.03 0.06 0.04 -> running max 0.02 0.03 0.06 0.06
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], atol=1e-15)
    assert rejected.tolist() == [True, False, False, True]


def test_tost():
    mk = lambda lo, hi, level=0.90: iv.Interval(0.0, lo, hi, 1.0, 0.5, 10, "x", level)  # noqa: E731
    assert iv.tost(mk(-0.5, 0.8), 1.0) == iv.EQUIVALENT
    assert iv.tost(mk(-0.5, 1.2), 1.0) == iv.NOT_EQUIVALENT
    with pytest.raises(ValueError, match="90"):
        iv.tost(mk(-0.5, 0.8, 0.95), 1.0)
    with pytest.raises(ValueError, match="margin"):
        iv.tost(mk(-0.5, 0.8), 0.0)


def test_bootstrap_p_and_t_interval():
    assert iv.bootstrap_p(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 4)
    assert iv.normal_p(1.959963984540054, 1.0) == pytest.approx(0.05, abs=1e-12)
    assert iv.normal_p(0.0, 0.0) == 1.0
    t = iv.t_interval(1.0, 0.5, 3, 4)
    assert t.lo == pytest.approx(1 - 3.182446305284263 * 0.5, abs=1e-9)
    u = 2 / math.sqrt(3)      # closed form for 3 df: P(T > t) = 1/2 - (atan(u) + u / (1 + u^2)) / pi, u = t / sqrt(3)
    assert t.p == pytest.approx(2 * (0.5 - (math.atan(u) + u / (1 + u * u)) / math.pi), abs=1e-12)


def test_sample_size_recipe():
    assert iv.sample_size(128, 20.0, 10.0) == math.ceil(128 * 5.6 ** 2)
    with pytest.raises(ValueError):
        iv.sample_size(128, 1.0, 0.0)


def test_hierarchical_undefined_replicates_give_no_interval():
    def stat(v, idx):
        if idx is not None and len(np.unique(idx)) < 3:
            return float("nan")
        return float(v.mean() if idx is None else v[idx].mean())

    out = iv.hierarchical([np.arange(3.0)], stat, n_boot=200, seed=0)     # most resamples of 3 miss an image
    assert np.isnan(out.lo) and "undefined" in out.method and iv.decide(out) == iv.UNDECIDED
