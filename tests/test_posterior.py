import math

import pytest
import torch

from rwbench.models.denoisers import GaussianDenoiser, GaussianMixtureDenoiser
from rwbench.tasks.operators import BicubicSR, RandomInpainting
from rwbench.models.oracle_posterior import batch_posteriors, gmm_posterior, posterior_mean, posterior_variance

F64 = torch.float64


def _gauss_pdf(x, m, C):
    """Density of N(m, C) at points x [n, d]."""
    d = m.numel()
    diff = x - m
    sol = torch.linalg.solve(C, diff.T).T
    return torch.exp(-0.5 * (diff * sol).sum(1)) / math.sqrt((2 * math.pi) ** d * torch.linalg.det(C))


def _brute(prior, A, y, eta, grid, cell):
    """Posterior weights, mean, covariance by numerical integration of prior x likelihood on a grid."""
    like = torch.exp(-0.5 * ((grid @ A.T - y) ** 2).sum(1) / eta**2)
    comps = torch.stack([prior.weights[j] * _gauss_pdf(grid, prior.means[j], prior.covs[j]) for j in range(len(prior.weights))])
    joint = comps * like                                  # [J, n]
    Z = joint.sum() * cell
    w = joint.sum(1) * cell / Z
    dens = joint.sum(0) / Z
    mean = (dens[:, None] * grid).sum(0) * cell
    diff = grid - mean
    cov = (dens[:, None, None] * diff[:, :, None] * diff[:, None, :]).sum(0) * cell
    return w, mean, cov, dens


def test_1d_against_numerical_integration():
    prior = GaussianMixtureDenoiser(torch.tensor([0.3, 0.7]), torch.tensor([[-1.0], [2.0]]), torch.tensor([[[0.5]], [[0.8]]]))
    A = torch.tensor([[2.0]], dtype=F64)
    y, eta = torch.tensor([1.1], dtype=F64), 0.7
    grid = torch.linspace(-12, 12, 240001, dtype=F64)[:, None]
    w, mean, cov, dens = _brute(prior, A, y, eta, grid, 24 / 240000)
    post = gmm_posterior(prior, A, y, eta)
    assert torch.allclose(post.weights, w, atol=1e-9)
    assert torch.allclose(posterior_mean(post).reshape(1), mean, atol=1e-9)
    assert torch.allclose(posterior_variance(post).reshape(1), cov.reshape(1), atol=1e-9)
    # the posterior mixture density equals prior x likelihood normalised, pointwise
    pts = torch.tensor([[-1.0], [0.2], [0.6], [1.5]], dtype=F64)
    mix = sum(post.weights[j] * _gauss_pdf(pts, post.means[j], post.covs[j]) for j in range(2))
    idx = ((pts[:, 0] + 12) / (24 / 240000)).round().long()
    assert torch.allclose(mix, dens[idx], rtol=1e-7)


def test_2d_against_numerical_integration():
    prior = GaussianMixtureDenoiser(torch.tensor([0.2, 0.5, 0.3]),
                                    torch.tensor([[-1.0, 0.5], [1.5, -0.5], [0.0, 2.0]]),
                                    torch.tensor([[[0.6, 0.2], [0.2, 0.4]], [[0.3, -0.1], [-0.1, 0.5]], [[0.9, 0.0], [0.0, 0.2]]]))
    A = torch.tensor([[1.0, 0.5]], dtype=F64)
    y, eta = torch.tensor([0.8], dtype=F64), 0.4
    n = 1201
    ax = torch.linspace(-7, 8, n, dtype=F64)
    h = 15 / (n - 1)
    grid = torch.cartesian_prod(ax, ax)
    w, mean, cov, _ = _brute(prior, A, y, eta, grid, h * h)
    post = gmm_posterior(prior, A, y, eta)
    assert torch.allclose(post.weights, w, atol=1e-7)
    assert torch.allclose(post.mean, mean, atol=1e-7)
    exact_cov = sum(post.weights[j] * (post.covs[j] + torch.outer(post.means[j], post.means[j])) for j in range(3)) \
        - torch.outer(post.mean, post.mean)
    assert torch.allclose(exact_cov, cov, atol=1e-7)
    assert torch.allclose(posterior_variance(post), cov.diagonal(), atol=1e-7)
    # log evidence: log p(y) = log integral of prior x N(y; Ax, eta^2)
    like_norm = 1 / math.sqrt(2 * math.pi * eta**2)
    comps = sum(prior.weights[j] * _gauss_pdf(grid, prior.means[j], prior.covs[j]) for j in range(3))
    Z = (comps * torch.exp(-0.5 * ((grid @ A.T - y) ** 2).sum(1) / eta**2)).sum() * h * h * like_norm
    assert post.log_evidence == pytest.approx(math.log(Z), abs=1e-7)


def test_identity_operator_posterior_mean_is_the_denoiser():
    # A = I, y = x + eta n: E[X | y] is the prior's MMSE denoiser at sigma = eta (Tweedie)
    g = torch.Generator().manual_seed(0)
    J, d = 3, 5
    B = torch.randn(J, d, d, generator=g, dtype=F64)
    prior = GaussianMixtureDenoiser(torch.rand(J, generator=g, dtype=F64) + 0.1, torch.randn(J, d, generator=g, dtype=F64),
                                    B @ B.transpose(1, 2) / d + 0.05 * torch.eye(d, dtype=F64))
    y = torch.randn(d, generator=g, dtype=F64)
    post = gmm_posterior(prior, torch.eye(d, dtype=F64), y, 0.3)
    assert torch.allclose(post.mean, prior(y[None], torch.tensor(0.3, dtype=F64))[0], atol=1e-12)
    assert torch.allclose(post.weights, prior.responsibilities(y[None], 0.3)[0], atol=1e-12)


def test_operator_route_and_exact_samples():
    shape = (1, 4, 4)
    g = torch.Generator().manual_seed(1)
    B = torch.randn(16, 16, generator=g, dtype=F64)
    prior = GaussianDenoiser(torch.rand(16, generator=g, dtype=F64), B @ B.T / 16 + 0.01 * torch.eye(16, dtype=F64), sample_shape=shape)
    op = RandomInpainting(0.5, seeds=[4, 5])
    x = prior.sample(2, g)
    y = op.measure(x, 0.1, [torch.Generator().manual_seed(i) for i in range(2)])
    posts = batch_posteriors(prior, op, y, 0.1)
    for i in range(2):
        ref = gmm_posterior(prior, op.dense(shape, i), y[i], 0.1)
        assert torch.allclose(posts[i].mean, ref.mean, atol=1e-14)
    assert not torch.allclose(posts[0].mean, posts[1].mean)
    draws = posts[0].sample(20000, torch.Generator().manual_seed(2)).reshape(20000, -1)
    sd = posterior_variance(posts[0]).reshape(-1).sqrt()
    assert torch.all((draws.mean(0) - posts[0].mean).abs() < 5 * sd / math.sqrt(20000))
    assert torch.allclose(draws.std(0), sd, rtol=0.03)
    # separable operators give one posterior per measurement
    sr = BicubicSR(2)
    ys = sr.A(x)
    assert len(batch_posteriors(prior, sr, ys, 0.1)) == 2


def test_bad_input():
    prior = GaussianDenoiser(torch.zeros(4), torch.eye(4))
    with pytest.raises(ValueError, match="A"):
        gmm_posterior(prior, torch.eye(3), torch.zeros(3), 0.1)
    with pytest.raises(ValueError, match="y"):
        gmm_posterior(prior, torch.eye(4), torch.zeros(3), 0.1)
    with pytest.raises(ValueError, match="eta"):
        gmm_posterior(prior, torch.eye(4), torch.zeros(4), 0.0)
