"""rwbench.core.walk_moments: the walk's exact output moments on a Gaussian target, against a step-by-step recursion
(to rounding) and against simulation with the walk and the exact one-component oracle (to Monte Carlo error)."""

import math

import pytest
import torch

from rwbench.core import presets, schedules
from rwbench.core.walk import random_walk
from rwbench.core.walk_moments import (contraction_factors, stationary_variance, temperature_response, variance_ratio,
                                       walk_moments, wasserstein2_sq)
from rwbench.models.denoisers import GaussianMixtureDenoiser

F64 = torch.float64


def _recursion(sigmas, taus, temps, lam, v0, m0, final_noise):
    """The scalar recursion e' = a e + sqrt(2 tau T) n step by step, per eigenvalue, in plain Python floats."""
    means, variances = [], []
    K = len(sigmas)
    for li, l in enumerate(lam):
        mean, var = float(m0[li]), float(v0)
        for k in range(K):
            a = 1.0 - float(taus[k]) / (float(l) + float(sigmas[k]) ** 2)
            mean, var = a * mean, a * a * var
            if final_noise or k < K - 1:
                var += 2.0 * float(taus[k]) * float(temps[k])
        means.append(mean)
        variances.append(var)
    return torch.tensor(means, dtype=F64), torch.tensor(variances, dtype=F64)


@pytest.mark.parametrize("wp", [
    presets.simplified(schedules.sigmoid(7, 0.01, 8.5), 0.5, 0.4, 1.0),
    presets.simplified(schedules.geometric(5, 0.02, 3.0), 1.7, 0.0, 1.3),          # a_k < 0 somewhere
    presets.ve_sde(schedules.geometric(6, 0.01, 5.0)),
    presets.euler_ancestral([4.0, 2.0, 1.0, 0.3, 0.1], eta=1.0),                      # final_noise True
    presets.ddpm(schedules.respaced_betas(schedules.linear_betas(), schedules.respaced_timesteps(1000, 8))),
])
def test_closed_form_equals_the_recursion(wp):
    lam = torch.tensor([0.0, 1e-3, 0.05, 0.4, 2.0, 9.0], dtype=F64)
    m0 = torch.tensor([0.3, -1.0, 0.2, 0.0, 2.0, -0.5], dtype=F64)
    got = walk_moments(wp.sigmas, wp.taus, wp.temperatures, lam, wp.init_scale ** 2, m0, final_noise=wp.final_noise)
    mean, var = _recursion(wp.sigmas, wp.taus, wp.temperatures, lam, wp.init_scale ** 2, m0, wp.final_noise)
    assert torch.allclose(got["var"], var, rtol=1e-12, atol=1e-300)
    assert torch.allclose(got["mean"], mean, rtol=1e-12, atol=1e-15)
    a = contraction_factors(wp.sigmas, wp.taus, lam)
    assert torch.allclose(got["gain"], a.prod(0), rtol=1e-14)
    # output variance is affine in the temperatures: the response is the exact derivative
    resp = temperature_response(wp.sigmas, wp.taus, lam, final_noise=wp.final_noise)
    for k in range(wp.K):
        bumped = wp.temperatures.clone()
        bumped[k] += 0.25
        again = walk_moments(wp.sigmas, wp.taus, bumped, lam, wp.init_scale ** 2, m0, final_noise=wp.final_noise)
        assert torch.allclose(again["var"] - got["var"], 0.25 * resp[k], rtol=1e-9, atol=1e-12 * float(var.max()))


def test_summaries_and_the_stationary_variance():
    lam = torch.tensor([0.5, 2.0], dtype=F64)
    mom = {"mean": torch.tensor([0.1, 0.0], dtype=F64), "var": torch.tensor([0.5, 4.5], dtype=F64),
           "eigenvalues": lam}
    assert variance_ratio(mom, include_mean=False) == pytest.approx(5.0 / 2.5, rel=1e-15)
    assert variance_ratio(mom) == pytest.approx(5.01 / 2.5, rel=1e-15)
    assert wasserstein2_sq(mom) == pytest.approx(0.01 + (math.sqrt(2) - math.sqrt(4.5)) ** 2, rel=1e-14)
    # many steps at one level settle to T (lam + s^2) / (1 - h / 2)
    K, s, tau, T = 400, 0.7, 0.3, 0.6
    full = lambda v: torch.full((K,), v, dtype=F64)
    got = walk_moments(full(s), full(tau), full(T), lam, 5.0, final_noise=True)
    assert torch.allclose(got["var"], stationary_variance(s, tau, T, lam), rtol=1e-10)
    # the exact target is the fixed point at T = 1 only as s -> 0 and h -> 0
    assert torch.allclose(stationary_variance(1e-4, 1e-9, 1.0, lam), lam, rtol=1e-8)


def test_bad_input_is_named():
    wp = presets.simplified(schedules.sigmoid(4, 0.01, 8.5), 0.5, 0.4)
    with pytest.raises(ValueError, match="eigenvalues"):
        walk_moments(wp.sigmas, wp.taus, wp.temperatures, [-1.0], 1.0)
    with pytest.raises(ValueError, match="start_var"):
        walk_moments(wp.sigmas, wp.taus, wp.temperatures, [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="taus"):
        walk_moments(wp.sigmas, wp.taus[:2], wp.temperatures, [1.0], 1.0)


def test_closed_form_matches_the_walk_on_the_one_component_oracle():
    # 16-dim N(m, C) with a spread of eigenvalues, the exact denoiser, n = 4000 walks (one seeded generator)
    d, n = 16, 4000
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    lam = torch.logspace(-3, 0.5, d, dtype=F64)
    mean = 0.5 + 0.1 * torch.randn(d, generator=g, dtype=F64)
    oracle = GaussianMixtureDenoiser(torch.ones(1, dtype=F64), mean[None], ((q * lam) @ q.T)[None], sample_shape=(d,))
    wp = presets.simplified(schedules.sigmoid(30, 0.01, 8.5), 0.5, 0.4, 1.0)
    x0 = wp.initial(torch.randn(n, d, generator=g, dtype=F64))
    x = random_walk(oracle, x0, generator=g, **wp.walk_kwargs())
    lam_o, vec = oracle.eigvals[0], oracle.eigvecs[0]
    mom = walk_moments(wp.sigmas, wp.taus, wp.temperatures, lam_o, wp.init_scale ** 2, vec.T @ (0.0 - mean),
                       final_noise=wp.final_noise)
    e = (x - mean) @ vec                                             # eigen-coordinates of x - m
    centred = e - e.mean(0)
    s2 = centred.pow(2).sum(0) / (n - 1)
    m4 = centred.pow(4).mean(0)
    se_var = ((m4 - s2 ** 2) / n).sqrt()                            # se of the sample variance
    z_var = (s2 - mom["var"]) / se_var
    z_mean = (e.mean(0) - mom["mean"]) / (s2 / n).sqrt()
    assert z_var.abs().max() < 4.5 and z_mean.abs().max() < 4.5, (z_var, z_mean)
    assert (mom["var"] / lam_o).max() > 1.2                          # a case that is far from exact (K = 30)
    # the total-variance ratio too
    ratio = float(((x - mean) ** 2).sum(1).mean() / lam_o.sum())
    assert ratio == pytest.approx(variance_ratio(mom), rel=0.05)


def test_the_tools_fixed_start_temperature_makes_the_closed_form_exact():
    from rwbench.core.schedules import linear_temperatures
    from rwbench.tools.walk_variance import Surrogates, fixed_T0

    d = 8
    g = torch.Generator().manual_seed(1)
    lam = torch.logspace(-3, 0.3, d, dtype=F64)
    oracle = GaussianMixtureDenoiser(torch.ones(1, dtype=F64), 0.5 + 0.1 * torch.randn(1, d, generator=g, dtype=F64),
                                     torch.diag(lam)[None], sample_shape=(d,))
    surr = Surrogates(oracle)
    wp = presets.simplified(schedules.sigmoid(200, 0.01, 8.5), 0.5, 0.4, 1.0)
    before = variance_ratio(surr.moments(wp)[0])
    t0 = fixed_T0(surr, wp, 1.0)
    after = surr.moments(wp, linear_temperatures(wp.K, t0, 1.0))
    assert before < 0.95 and t0 > 0.4 and variance_ratio(after[0]) == pytest.approx(1.0, abs=1e-10)
    # one component: the pooled per-component closed form is the total one
    assert surr.pooled(after) == pytest.approx(variance_ratio(after[0]), rel=1e-10)
    short = presets.simplified(schedules.sigmoid(8, 0.01, 8.5), 0.5, 0.4, 1.0)       # start not forgotten
    assert math.isnan(fixed_T0(surr, short, 1.0))


def _coupled_pair():
    lam = torch.tensor([0.05, 0.3, 1.0, 3.0], dtype=F64)
    walk_a = presets.simplified(schedules.geometric(20, 0.01, 5.0), 0.5, 0.4)   # starts at 5
    walk_b = presets.ve_sde(schedules.geometric(60, 0.01, 8.0))                   # starts above it, at 8
    return lam, walk_a, walk_b


def test_coupled_covariance_matches_brownian_coupled_walks():
    """Two walks of the same images on one Brownian path each (rwbench.core.brownian), exact starts: the empirical
    variances and cross-covariance agree with the closed form within 4.5 Monte-Carlo se per direction."""
    from rwbench.core.brownian import BrownianPaths
    from rwbench.core.walk import random_walk
    from rwbench.core.walk_moments import coupled_covariance

    lam, walk_a, walk_b = _coupled_pair()
    n, d = 3000, lam.numel()
    paths = BrownianPaths(list(range(n)))

    def run(w):
        s0 = float(w.sigmas[0])
        x0 = (lam + s0**2).sqrt() * paths.start_normals(s0, d)
        noise = paths.over(torch.cat([w.sigmas, w.sigmas.new_zeros(1)]), (d,))
        with torch.no_grad():
            return random_walk(lambda x, s: x * (lam / (lam + float(s) ** 2)), x0.to(F64), generator=noise,
                               **w.walk_kwargs()).to(F64)

    xa, xb = run(walk_a), run(walk_b)
    m = coupled_covariance(walk_a, walk_b, lam)
    prod = xa * xb
    se = prod.std(0) / n**0.5
    assert torch.all((prod.mean(0) - m["cov"]).abs() < 4.5 * se), (prod.mean(0), m["cov"], se)
    for x, v in ((xa, m["var_a"]), (xb, m["var_b"])):
        se_v = (x**2).std(0) / n**0.5
        assert torch.all(((x**2).mean(0) - v).abs() < 4.5 * se_v)
    assert torch.all(m["corr"] > 0.9)      # these two walks are strongly coupled; the formula must say so


def test_coupled_covariance_limits_and_the_paired_statistic():
    from rwbench.core.walk_moments import coupled_covariance, paired_statistic_variance, walk_moments

    lam, walk_a, walk_b = _coupled_pair()
    same = coupled_covariance(walk_a, walk_a, lam)           # one walk with itself: perfectly correlated
    assert torch.allclose(same["corr"], torch.ones_like(lam), atol=1e-12)
    assert torch.allclose(paired_statistic_variance(same, torch.ones_like(lam)), torch.zeros_like(lam[0]), atol=1e-10)
    ref = walk_moments(walk_a.sigmas, walk_a.taus, walk_a.temperatures, lam, lam + float(walk_a.sigmas[0]) ** 2)
    assert torch.allclose(same["var_a"], ref["var"], rtol=1e-12)
    ind = coupled_covariance(walk_a, walk_b, lam, noise="independent")
    # independent step noise: only the shared start correlates them, through both walks' gains
    gains = [walk_moments(w.sigmas, w.taus, w.temperatures, lam, 0.0, torch.ones_like(lam))["gain"] for w in (walk_a, walk_b)]
    starts = [(lam + float(w.sigmas[0]) ** 2).sqrt() for w in (walk_a, walk_b)]
    assert torch.allclose(ind["cov"], gains[0] * gains[1] * starts[0] * starts[1], rtol=1e-12)
    # Var(|a|^2 - |b|^2) for independent Gaussians: 2 sum va^2 + 2 sum vb^2
    free = {"var_a": ind["var_a"], "var_b": ind["var_b"], "cov": torch.zeros_like(lam)}
    assert float(paired_statistic_variance(free)) == pytest.approx(float(2 * (ind["var_a"] ** 2 + ind["var_b"] ** 2).sum()))
    with pytest.raises(ValueError, match="noise"):
        coupled_covariance(walk_a, walk_b, lam, noise="shared")
