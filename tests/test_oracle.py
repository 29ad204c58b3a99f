"""Exact Gaussian / Gaussian-mixture oracles: analytic denoiser, sampling, and the walk on a 2-D mixture."""

import math

import pytest
import torch

from rwbench.core import presets, schedules
from rwbench.models.denoisers import GaussianDenoiser, GaussianMixtureDenoiser
from rwbench.metrics.distances import energy_distance
from rwbench.core.walk import random_walk

F64 = torch.float64


def mixture2d():
    means = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], dtype=F64)
    covs = torch.tensor([[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]], [[0.5, 0.0], [0.0, 0.05]]], dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.5, 0.3, 0.2], dtype=F64), means, covs)


def test_gaussian_denoiser_matches_linear_algebra():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 6, generator=g, dtype=F64)
    C, m = A @ A.T, torch.randn(6, generator=g, dtype=F64)
    x = torch.randn(5, 6, generator=g, dtype=F64)
    s = torch.tensor(0.7, dtype=F64)
    ref = m + torch.linalg.solve(C + 0.49 * torch.eye(6, dtype=F64), C @ (x - m).T).T
    assert torch.allclose(GaussianDenoiser(m, C)(x, s), ref, rtol=1e-12, atol=1e-12)


def test_singular_covariance_is_stable_and_projects():
    """A rank-1 prior: the denoiser stays finite and lands on the prior's line as sigma -> 0."""
    u = torch.tensor([1.0, 2.0, -1.0], dtype=F64) / math.sqrt(6)
    den = GaussianDenoiser(torch.zeros(3, dtype=F64), 4.0 * torch.outer(u, u))
    x = torch.tensor([[1.0, 0.5, 3.0]], dtype=F64)
    out = den(x, torch.tensor(1e-6, dtype=F64))
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0], (x[0] @ u) * u, atol=1e-9)


def test_mixture_denoiser_matches_monte_carlo_posterior_mean():
    """Self-normalised importance sampling of E[X | X + sigma N = y] from 400k exact prior draws."""
    gm = mixture2d()
    g = torch.Generator().manual_seed(1)
    xs = gm.sample(400_000, g)
    sigma = 0.8
    ys = torch.tensor([[0.0, 0.0], [-1.5, 0.5], [1.0, -1.0]], dtype=F64)
    analytic = gm(ys, torch.tensor(sigma, dtype=F64))
    for y, a in zip(ys, analytic):
        logw = -((xs - y) ** 2).sum(1) / (2 * sigma**2)
        w = torch.softmax(logw, 0)
        est = w @ xs
        ess = 1.0 / (w**2).sum()
        se = ((w[:, None] * (xs - est) ** 2).sum(0) / ess).sqrt()
        assert torch.all((est - a).abs() < 5 * se + 1e-3), (est, a, se)


def test_score_is_gradient_of_log_density():
    gm = mixture2d()
    x = torch.tensor([[0.3, -0.4], [1.0, 2.0]], dtype=F64, requires_grad=True)
    s = torch.tensor(0.5, dtype=F64)
    (grad,) = torch.autograd.grad(gm.log_density(x, s).sum(), x)
    assert torch.allclose(gm.score(x.detach(), s), grad, rtol=1e-9, atol=1e-10)


def test_per_sample_sigma_equals_separate_calls():
    gm = mixture2d()
    x = torch.randn(3, 2, dtype=F64)
    sig = torch.tensor([0.1, 1.0, 5.0], dtype=F64)
    together = gm(x, sig)
    apart = torch.cat([gm(x[i:i + 1], sig[i]) for i in range(3)])
    assert torch.allclose(together, apart, rtol=1e-13, atol=1e-14)


def test_sample_moments_and_save_load(tmp_path):
    gm = mixture2d()
    xs = gm.sample(200_000, torch.Generator().manual_seed(2))
    assert torch.allclose(xs.mean(0), gm.mean, atol=0.02)
    gm.save(tmp_path / "gm.safetensors")
    back = GaussianMixtureDenoiser.load(tmp_path / "gm.safetensors")
    x = torch.randn(4, 2, dtype=F64)
    assert torch.equal(back(x, torch.tensor(0.3, dtype=F64)), gm(x, torch.tensor(0.3, dtype=F64)))
    with pytest.raises(FileNotFoundError, match="prepare"):
        GaussianMixtureDenoiser.load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("kwargs, word", [
    (dict(weights=torch.ones(2), means=torch.zeros(3, 2), covs=torch.zeros(3, 2, 2)), "weights"),
    (dict(weights=torch.ones(1), means=torch.zeros(1, 2), covs=-torch.eye(2)[None]), "semi-definite"),
    (dict(weights=torch.ones(1), means=torch.zeros(2), covs=torch.eye(2)[None]), "means"),
])
def test_bad_oracle_parameters(kwargs, word):
    with pytest.raises(ValueError, match=word):
        GaussianMixtureDenoiser(**kwargs)


def test_oracle_rejects_bad_sigma_and_shape():
    gm = mixture2d()
    with pytest.raises(ValueError, match="sigma"):
        gm(torch.zeros(2, 2, dtype=F64), torch.tensor(0.0, dtype=F64))
    with pytest.raises(ValueError, match="dimension"):
        gm(torch.zeros(2, 3, dtype=F64), torch.tensor(1.0, dtype=F64))


def _walk(gm, n, K, c, T0, TK, seed):
    g = torch.Generator().manual_seed(seed)
    p = presets.simplified(schedules.geometric(K, 0.01, 20.0), c, T0, TK)
    x0 = p.init_scale * torch.randn(n, 2, generator=g, dtype=F64)
    return random_walk(gm, x0, generator=g, **p.walk_kwargs())


@pytest.mark.slow
def test_simplified_scheme_samples_the_mixture_within_monte_carlo_noise():
    gm = mixture2d()
    n = 1000
    g = torch.Generator().manual_seed(10)
    null = sorted(energy_distance(gm.sample(n, g), gm.sample(n, g)) for _ in range(20))
    threshold = null[-2]  # ~95th percentile of the distance between two exact sample sets
    ref = gm.sample(n, g)
    good = energy_distance(_walk(gm, n, 2000, 0.02, 1.0, 1.0, seed=11), ref)
    hot = energy_distance(_walk(gm, n, 2000, 0.02, 3.0, 3.0, seed=11), ref)
    assert good < threshold, (good, null)
    assert hot > 5 * threshold, (hot, null)  # the criterion can fail: a too-hot walk is far off


def test_end_temperature_below_one_shrinks_spread():
    """T_K < 1 sharpens (paper Sec. V-C): within-mode spread grows monotonically with T_K."""
    gm = mixture2d()
    spreads = []
    for TK in (0.2, 0.6, 1.0):
        out = _walk(gm, 600, 300, 0.1, TK, TK, seed=3)
        comp = gm.responsibilities(out, torch.tensor(0.01, dtype=F64)).argmax(1)
        spreads.append(((out - gm.means[comp]) ** 2).sum(1).mean().item())
    assert spreads[0] < spreads[1] < spreads[2]
    assert spreads[0] < 0.5 * spreads[2]
