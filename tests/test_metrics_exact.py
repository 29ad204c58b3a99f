"""The one FID/KID path (fidelity.SetMetrics), bootstrap intervals, exact oracle metrics and the feature normalisation."""

import math

import numpy as np
import pytest
import torch

from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.metrics import uncertainty as aggregation, fidelity
from rwbench.models.oracle import mixture_log_density, mixture_responsibilities
from rwbench.metrics.distances import energy_distance, energy_from_parts, energy_parts

F64 = torch.float64


def test_energy_distance_known_values_and_parts():
    # x = {0, 1}, y = {0, 2}: E|X-Y| = (0 + 2 + 1 + 1) / 4 = 1, U(XX) = 1, U(YY) = 2 -> 2 - 1 - 2 = -1
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    assert energy_distance(x, y) == pytest.approx(-1.0, abs=1e-15)
    cross, within, yy = energy_parts(x, y)
    assert energy_from_parts(cross, within, yy) == pytest.approx(-1.0, abs=1e-15)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(30, 5, generator=g, dtype=F64), torch.randn(50, 5, generator=g, dtype=F64) + 0.3
    parts = energy_parts(a, b)
    assert energy_from_parts(*parts) == pytest.approx(energy_distance(a, b), rel=1e-12)
    # doubling every multiplicity changes nothing; a multiset leaves pairs of copies out of E|X-X'|
    assert energy_from_parts(*parts, counts=2 * torch.ones(30)) == pytest.approx(energy_distance(a, b), rel=1e-12)
    c = torch.zeros(30)
    c[:3] = torch.tensor([2.0, 1.0, 1.0])
    xx = (2 * 2 * parts[1][0, 1] + 2 * 2 * parts[1][0, 2] + 2 * parts[1][1, 2]) / (16 - 6)
    want = 2 * (2 * parts[0][0] + parts[0][1] + parts[0][2]) / 4 - xx - parts[2]
    assert energy_from_parts(*parts, counts=c) == pytest.approx(float(want), rel=1e-12)


def _gauss_reference(m=600, d=6, seed=1, shift=0.0):
    g = np.random.default_rng(seed)
    return g.normal(size=(m, d)) + shift


def test_set_metrics_fid_matches_frechet_and_multiset():
    ref_feats, x = _gauss_reference(), _gauss_reference(80, seed=2, shift=0.2)
    ref = fidelity.reference_from_features(ref_feats)
    sm = fidelity.SetMetrics(x, ref)
    stats = fidelity.weighted_statistics(x)
    want = fidelity.frechet_distance_symmetric(stats["mu"], stats["sigma"], ref["mu"], ref["sigma"])
    assert sm.fid() == pytest.approx(want, rel=1e-10)
    counts = np.random.default_rng(3).integers(0, 3, size=80)
    expanded = np.repeat(x, counts, axis=0)
    assert sm.fid(counts) == pytest.approx(fidelity.SetMetrics(expanded, ref).fid(), rel=1e-10)
    # n < D: the Gram route gives the same Frechet distance as the D x D one
    wide_ref = fidelity.reference_from_features(_gauss_reference(400, d=40, seed=4))
    few = _gauss_reference(12, d=40, seed=5)
    s = fidelity.weighted_statistics(few)
    direct = fidelity.frechet_distance_symmetric(s["mu"], s["sigma"], wide_ref["mu"], wide_ref["sigma"])
    assert fidelity.SetMetrics(few, wide_ref).fid() == pytest.approx(direct, rel=1e-9)


def test_kid_is_the_full_unbiased_mmd_and_matches_torch_fidelity():
    from torch_fidelity.metric_kid import kid_features_to_metric

    x, y = _gauss_reference(50, seed=6), _gauss_reference(50, seed=7, shift=0.1)
    ours = fidelity.set_metrics(x, fidelity.reference_from_features(y))["kid"]
    # one subset of size n = m holds every image: torch-fidelity's estimator is then the same U-statistic
    tf = kid_features_to_metric(torch.from_numpy(x), torch.from_numpy(y), kid_subsets=1, kid_subset_size=50,
                                rng_seed=0, verbose=False)
    assert ours == pytest.approx(tf["kernel_inception_distance_mean"], rel=1e-9)
    # bootstrap multiplicities: all-twos equals the plain estimate
    sm = fidelity.SetMetrics(x, fidelity.reference_from_features(y))
    assert sm.kid(2 * np.ones(50)) == pytest.approx(sm.kid(), rel=1e-12)


def test_kid_real_vs_real_interval_contains_zero_and_excludes_it_for_a_shift():
    ref = fidelity.reference_from_features(_gauss_reference(1000, d=8, seed=8))
    counts = aggregation.bootstrap_counts(128, 200, seed=0)
    same = fidelity.SetMetrics(_gauss_reference(128, d=8, seed=9), ref)
    iv = aggregation.replicate_interval(same.kid(), [same.kid(c) for c in counts])
    assert iv["ci_lo"] < 0 < iv["ci_hi"] and abs(same.kid()) < 2 * iv["se"]
    moved = fidelity.SetMetrics(_gauss_reference(128, d=8, seed=9, shift=0.5), ref)
    iv = aggregation.replicate_interval(moved.kid(), [moved.kid(c) for c in counts])
    assert iv["ci_lo"] > 0


def test_bootstrap_counts_and_interval():
    counts = aggregation.bootstrap_counts(7, 50, seed=1)
    assert counts.shape == (50, 7) and (counts.sum(axis=1) == 7).all()
    assert (aggregation.bootstrap_counts(7, 50, seed=1) == counts).all()
    iv = aggregation.replicate_interval(10.0, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert iv["se"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1))
    assert iv["ci_lo"] == pytest.approx(10.0 + np.quantile([-2, -1, 0, 1, 2], 0.025))
    assert iv["ci_hi"] == pytest.approx(10.0 + np.quantile([-2, -1, 0, 1, 2], 0.975))


def _mixture(d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(3, d, generator=g, dtype=F64)
    a = torch.randn(3, d, d, generator=g, dtype=F64)
    covs = a @ a.transpose(1, 2) / d + 0.2 * torch.eye(d, dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.5, 0.3, 0.2], dtype=F64), means, covs, sample_shape=(1, d))


def test_mixture_log_density_and_responsibilities_exact():
    from scipy.stats import multivariate_normal

    oracle = _mixture()
    x = oracle.sample(5, generator=torch.Generator().manual_seed(1))
    comps = np.stack([float(w) * multivariate_normal(m.numpy(), c.numpy()).pdf(x.reshape(5, -1).numpy())
                      for w, m, c in zip(oracle.weights, oracle.means, oracle.covs)], axis=1)
    assert torch.allclose(mixture_log_density(oracle, x), torch.from_numpy(np.log(comps.sum(1))), rtol=1e-12)
    assert torch.allclose(mixture_responsibilities(oracle, x), torch.from_numpy(comps / comps.sum(1, keepdims=True)),
                          rtol=1e-10, atol=1e-14)


def test_occupancy_of_exact_draws_centres_on_the_weights():
    oracle = _mixture()
    x = oracle.sample(20000, generator=torch.Generator().manual_seed(2))
    r = mixture_responsibilities(oracle, x)
    gap = r.mean(0) - oracle.weights
    se = r.std(0) / math.sqrt(len(r))
    assert (gap.abs() < 4 * se).all()          # E_p[r_j(X)] = w_j: the signed gaps centre on 0


def test_entropy_constant_matches_closed_form_for_one_gaussian():
    from rwbench.metrics.exact import reference_constants

    d = 4
    cov = torch.diag(torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=F64))
    oracle = GaussianMixtureDenoiser(torch.ones(1, dtype=F64), torch.zeros(1, d, dtype=F64), cov[None],
                                     sample_shape=(1, 2, 2))
    ref = torch.randint(0, 256, (10, 1, 2, 2), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    consts = reference_constants(oracle, ref)
    exact = (-0.5 * d * math.log(2 * math.pi * math.e) - 0.5 * float(torch.logdet(cov))) / d
    mc_se = consts["logp_sd"] / math.sqrt(consts["logp_draws"])
    assert abs(consts["logp_mean"] - exact) < 4 * mc_se
    assert consts["logp_sd"] == pytest.approx(math.sqrt(0.5 / d), rel=0.1)    # Var log p = d / 2 -> sd / d


def test_classifier_feature_normalisation_drops_dead_units_and_scales_to_unit_rms():
    from rwbench.nets.classifier import DigitsClassifier, calibrate_features

    torch.manual_seed(0)
    net = DigitsClassifier(width=4, feature_dim=16).eval()
    with torch.no_grad():
        net.fc.bias[:4] = -1e3                                   # four units that never fire
    images = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    summary = calibrate_features(net, images)
    assert summary["dead_units"] >= 4 and not net.feature_live[:4].any()
    with torch.no_grad():
        e = net.embedding(images).double()
    assert e.shape == (64, summary["live_units"])
    assert torch.allclose(e.mean(0), torch.zeros(e.shape[1], dtype=F64), atol=1e-5)
    assert float(e.var(0, unbiased=True).mean()) == pytest.approx(1.0, rel=1e-5)
    logits_before = net(images)
    assert torch.equal(net(images), logits_before)            # the classifier itself is unchanged


def test_batched_replicates_equal_one_by_one():
    ref = fidelity.reference_from_features(_gauss_reference(300, d=6, seed=10))
    counts = aggregation.bootstrap_counts(40, 7, seed=2)
    sm = fidelity.SetMetrics(_gauss_reference(40, d=6, seed=11), ref)
    batch = sm.replicates(counts)
    for b, row in enumerate(counts):
        assert batch["fid"][b] == pytest.approx(sm.fid(row), rel=1e-9)
        assert batch["kid"][b] == pytest.approx(sm.kid(row), rel=1e-9, abs=1e-15)
    wide = fidelity.reference_from_features(_gauss_reference(300, d=50, seed=12))
    sm = fidelity.SetMetrics(_gauss_reference(40, d=50, seed=13), wide)        # n < D: the Gram route
    assert sm.replicates(counts[:2])["fid"][1] == pytest.approx(sm.fid(counts[1]), rel=1e-12)


def test_resample_of_one_distinct_item_is_nan_not_an_error():
    x, y = _gauss_reference(4, seed=14), _gauss_reference(30, seed=15)
    sm = fidelity.SetMetrics(x, fidelity.reference_from_features(y))
    one = np.array([4, 0, 0, 0])
    assert math.isnan(sm.kid(one)) and math.isnan(sm.replicates(one[None])["kid"][0])
    assert math.isfinite(sm.fid(one))
    parts = energy_parts(torch.from_numpy(x), torch.from_numpy(y))
    assert math.isnan(energy_from_parts(*parts, counts=torch.tensor([0.0, 4.0, 0.0, 0.0])))
    iv = aggregation.replicate_interval(1.0, [np.nan, 0.5, 1.5, 1.0])
    assert iv["se"] == pytest.approx(0.5)


# ---------------------------------------------------------------- oracle moment metrics (rwbench.metrics.exact)

def _separated(d=16, seed=0, spread=8.0):
    """Three well-separated components (one-hot responsibilities) of dimension d, sample shape (1, d)."""
    g = torch.Generator().manual_seed(seed)
    means = spread * torch.randn(3, d, generator=g, dtype=F64)
    a = torch.randn(3, d, d, generator=g, dtype=F64)
    covs = a @ a.transpose(1, 2) / d + 0.2 * torch.eye(d, dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.5, 0.3, 0.2], dtype=F64), means, covs, sample_shape=(1, d))


def _exact_metrics(oracle, x):
    from rwbench.data import to_uint8
    from rwbench.metrics.exact import ExactMetrics

    ref = to_uint8(oracle.sample(8, generator=torch.Generator().manual_seed(99)))
    return ExactMetrics(oracle, x, to_uint8(x), ref, {"energy_yy": 0.0, "logp_mean": 0.0})


def test_mixture_moments_are_the_exact_mean_and_total_covariance():
    from rwbench.metrics.exact import mixture_moments

    oracle = _mixture(d=4)
    m = mixture_moments(oracle)
    second = sum(w * (c + torch.outer(mu, mu)) for w, mu, c in zip(oracle.weights, oracle.means, oracle.covs))
    assert torch.allclose(m["mean"], oracle.mean, rtol=0, atol=1e-14)
    assert torch.allclose(m["covariance"], second - torch.outer(oracle.mean, oracle.mean), rtol=1e-12, atol=1e-12)
    assert float(m["trace"]) == pytest.approx(float(torch.trace(m["covariance"])), rel=1e-14)
    assert torch.allclose(m["component_traces"], oracle.covs.diagonal(dim1=1, dim2=2).sum(-1), rtol=1e-14)


def test_per_image_variance_ratio_has_expectation_one():
    from rwbench.metrics.exact import variance_ratios

    oracle = _mixture(d=3)
    v = variance_ratios(oracle, oracle.sample(200_000, generator=torch.Generator().manual_seed(3)))
    assert abs(float(v.mean()) - 1.0) < 4 * float(v.std()) / math.sqrt(len(v))


def test_variance_ratio_of_exact_and_of_scaled_draws():
    oracle = _separated()
    x = oracle.sample(4000, generator=torch.Generator().manual_seed(4))
    em = _exact_metrics(oracle, x)
    se = float(em.variance_ratios.std()) / math.sqrt(em.n)
    assert abs(em.variance_ratio() - 1.0) < 4 * se
    assert abs(em.component_variance_ratio() - 1.0) < 0.05          # per-image sd / sqrt(4000) is about 0.01
    mu = oracle.mean.reshape(1, 1, -1)
    hot = _exact_metrics(oracle, mu + 1.6 * (x - mu))              # x 1.6 around the mixture mean: ratio 2.56
    assert abs(hot.variance_ratio() - 2.56) < 4 * float(hot.variance_ratios.std()) / math.sqrt(hot.n)
    assert hot.variance_ratio() == pytest.approx(2.56 * em.variance_ratio(), rel=1e-12)
    # x 0.5 around each draw's own component mean: within-component ratio 0.25, every component's too
    comps = torch.multinomial(oracle.weights, 4000, replacement=True, generator=torch.Generator().manual_seed(5))
    z = torch.randn(4000, 16, dtype=F64, generator=torch.Generator().manual_seed(6))
    own = oracle.means[comps] + torch.einsum("nd,ned->ne", z * oracle.eigvals[comps].sqrt(), oracle.eigvecs[comps])
    cold = _exact_metrics(oracle, (oracle.means[comps] + 0.5 * (own - oracle.means[comps])).reshape(4000, 1, 16))
    assert cold.component_variance_ratio() == pytest.approx(0.25, abs=0.02)
    assert cold.component_ratio_maxdev() == pytest.approx(0.75, abs=0.03)
    assert torch.equal(cold.component, comps)                       # separated: the argmax is the true component
    assert em.component_ratio_maxdev() < 0.1


def test_mean_offset_statistics_exact_and_shifted():
    from rwbench.metrics.exact import mixture_moments, offset_parts

    oracle = _mixture(d=8, seed=1)
    m = mixture_moments(oracle)
    tr_sq = float(torch.trace(m["covariance"] @ m["covariance"]))
    n, reps = 40, 300
    g = torch.Generator().manual_seed(7)
    shift = torch.full((8,), 1.5, dtype=F64)                       # |d|^2 = 18: the offset dominates the se
    stats = {"exact": [], "shifted": []}
    for _ in range(reps):
        x = oracle.sample(n, generator=g).reshape(n, -1)
        for key, y in (("exact", x), ("shifted", x + shift)):
            c = y - m["mean"]
            gram = c @ c.T
            parts = offset_parts(gram)
            xbar = c.mean(0)
            s2 = float(((c - xbar) ** 2).sum()) / (n - 1)
            assert parts["offset_sq"] == pytest.approx(float(xbar @ xbar) - s2 / n, rel=1e-9, abs=1e-12)
            stats[key].append((parts["offset_sq"], parts["se"], parts["tr_sq"], float(xbar @ xbar)))
    for key, want in (("exact", 0.0), ("shifted", 18.0)):
        u, se, trs, sq = (np.array(col) for col in zip(*stats[key]))
        assert abs(u.mean() - want) < 4 * u.std(ddof=1) / math.sqrt(reps), key       # unbiased
        assert abs(trs.mean() - tr_sq) < 4 * trs.std(ddof=1) / math.sqrt(reps), key  # tr Sigma^2 unbiased
        sd = u.std(ddof=1)
        if key == "exact":          # d = 0: the clamped se is conservative, not wildly so
            assert 0.95 * sd < se.mean() < 1.6 * sd
        else:                       # d^T Sigma d > 0 dominates: the se is the sd to MC error (sd of an sd ~ 4 %)
            assert se.mean() == pytest.approx(sd, rel=0.15)
    sq = np.array([s[3] for s in stats["exact"]])
    assert abs(sq.mean() - float(m["trace"]) / n) < 4 * sq.std(ddof=1) / math.sqrt(reps)   # E|xbar - mu|^2 = trS/n
    with pytest.raises(ValueError, match="n >= 4"):
        offset_parts(torch.eye(3, dtype=F64))


def test_occupancy_chi2_of_exact_draws_is_k_minus_one_over_n():
    # E sum_j (h_j - w_j)^2 / w_j = sum_j Var(r_j) / (n w_j) = (sum_j E r_j^2 / w_j - 1) / n, = (K - 1) / n one-hot
    n, reps = 30, 300
    overlapping = GaussianMixtureDenoiser(torch.tensor([0.5, 0.3, 0.2], dtype=F64),
                                          torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.5]], dtype=F64),
                                          torch.eye(2, dtype=F64).expand(3, 2, 2), sample_shape=(1, 2))
    for oracle, one_hot in ((_separated(d=4), True), (overlapping, False)):
        g = torch.Generator().manual_seed(8)
        chi = np.array([_exact_metrics(oracle, oracle.sample(n, generator=g)).occupancy_chi2() for _ in range(reps)])
        big = mixture_responsibilities(oracle, oracle.sample(100_000, generator=g))
        want = (float(((big ** 2).mean(0) / oracle.weights).sum()) - 1.0) / n
        assert abs(chi.mean() - want) < 4 * chi.std(ddof=1) / math.sqrt(reps)
        assert want <= 1.01 * 2 / n                                   # Var r_j <= w_j (1 - w_j), up to MC error
        assert (want == pytest.approx(2 / n, rel=0.01)) == one_hot


def test_moment_metrics_take_bootstrap_counts():
    oracle = _mixture(d=3)
    x = oracle.sample(12, generator=torch.Generator().manual_seed(9))
    em = _exact_metrics(oracle, x)
    plain, doubled = em(), em(2 * torch.ones(12))
    for key in ("variance_ratio", "mean_offset", "occupancy_chi2", "component_variance_ratio",
                "component_ratio_maxdev", "energy_distance", "occupancy_tv"):
        assert doubled[key] == pytest.approx(plain[key], rel=1e-12), key
    c = torch.tensor([3.0, 1.0] + [0.0] * 10)                      # the multiset {x0, x0, x0, x1}
    y = (torch.cat([x[:1]] * 3 + [x[1:2]]) - oracle.mean.reshape(1, 1, -1)).reshape(4, -1)
    assert em.mean_offset(c) == pytest.approx(float(y.mean(0).norm()), rel=1e-12)
    want = float(3 * 1 * 2 * (y[0] @ y[3])) / (16 - 10)             # pairs of copies of x0 left out
    assert em.mean_offset_sq(c) == pytest.approx(want, rel=1e-12)
    assert em.variance_ratio(c) == pytest.approx(float((y ** 2).sum(1).mean()) / em.trace, rel=1e-12)
    t = em.tensors()
    assert t["component"].dtype == torch.int64 and t["component_ratio"].shape == (12, 3)
    assert t["within_num"].sum() / t["within_den"].sum() == pytest.approx(plain["component_variance_ratio"], rel=1e-12)
