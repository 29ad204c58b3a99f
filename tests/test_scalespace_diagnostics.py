import math

import numpy as np
import pytest
import torch

from rwbench.metrics.fidelity import frechet_distance, frechet_distance_symmetric
from rwbench.scalespace.baselines import forward_trajectory
from rwbench.scalespace.diagnostics import (FrechetReference, conditional_entropy_ve, ensemble_mean_variance,
                                            gaussian_entropy_per_dim, gaussian_kl_per_dim, gaussian_summary, grey_entropy,
                                            ledoit_wolf_covariance, ledoit_wolf_shrinkage, monotonicity,
                                            monotonicity_scores, trajectory_diagnostics)
from rwbench.scalespace.forward import HeatBlurProcess, VEProcess, VPProcess

F64 = torch.float64
LOG_2PI_E = math.log(2 * math.pi * math.e)


def _data(N=3000, side=4, seed=0):
    """Correlated, non-Gaussian images [N, 1, side, side]: a random smooth field plus a two-level offset."""
    g = torch.Generator().manual_seed(seed)
    n = side * side
    L = torch.randn(n, n, generator=g, dtype=F64) / math.sqrt(n)
    z = torch.randn(N, n, generator=g, dtype=F64) @ L.T * 0.2
    offset = 0.3 * (torch.rand(N, 1, generator=g, dtype=F64) > 0.5)
    return (0.4 + offset + z).reshape(N, 1, side, side)


@pytest.mark.parametrize("B,n", [(60, 12), (15, 40)])
def test_ledoit_wolf_matches_scikit_learn(B, n):
    from sklearn.covariance import ledoit_wolf

    g = torch.Generator().manual_seed(B)
    Y = torch.randn(B, n, generator=g, dtype=F64) @ torch.randn(n, n, generator=g, dtype=F64) + 3.0
    S_ref, shrink_ref = ledoit_wolf(Y.numpy())
    eig, delta, _ = ledoit_wolf_shrinkage(Y)
    assert delta == pytest.approx(shrink_ref, rel=1e-10)
    assert np.abs(ledoit_wolf_covariance(Y).numpy() - S_ref).max() < 1e-10 * np.abs(S_ref).max()
    assert float(torch.log(eig).sum()) == pytest.approx(np.linalg.slogdet(S_ref)[1], rel=1e-10)
    assert eig.numel() == n


def test_gaussian_entropy_and_kl_of_known_covariances():
    variances = torch.tensor([0.5, 2.0, 3.0], dtype=F64)
    logdet = float(torch.log(variances).sum())
    per_dim = 0.5 * torch.log(2 * math.pi * math.e * variances)
    assert gaussian_entropy_per_dim(logdet, 3) == pytest.approx(float(per_dim.mean()))
    assert gaussian_entropy_per_dim(0.0, 7) == pytest.approx(0.5 * LOG_2PI_E)          # N(0, I): 1.4189 nats per dim
    mu = torch.tensor([0.3, -1.0, 2.0], dtype=F64)
    cov = torch.tensor([[1.0, 0.3, 0.0], [0.3, 2.0, 0.5], [0.0, 0.5, 1.5]], dtype=F64)
    p = torch.distributions.MultivariateNormal(mu, cov)
    q = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=F64), 2.5 * torch.eye(3, dtype=F64))
    want = float(torch.distributions.kl_divergence(p, q)) / 3
    got = gaussian_kl_per_dim(float(mu @ mu), float(torch.trace(cov)), float(torch.linalg.slogdet(cov)[1]), 3, 2.5)
    assert got == pytest.approx(want, rel=1e-12)
    assert gaussian_kl_per_dim(0.0, 4.0, 0.0, 4, 1.0) == 0.0
    with pytest.raises(ValueError, match="s2"):
        gaussian_kl_per_dim(0.0, 1.0, 0.0, 1, 0.0)


def test_gaussian_summary_entropy_of_large_samples_approaches_the_true_value():
    g = torch.Generator().manual_seed(2)
    cov = torch.diag(torch.linspace(0.2, 3.0, 9, dtype=F64))
    Y = torch.randn(20000, 9, generator=g, dtype=F64) @ cov.sqrt()
    s = gaussian_summary(Y)
    true = 0.5 * LOG_2PI_E + float(torch.logdet(cov)) / 18
    assert gaussian_entropy_per_dim(s["logdet"], s["n"]) == pytest.approx(true, abs=0.01)


def test_diagonal_dct_summary_is_exact_for_independent_dct_coefficients():
    from rwbench.scalespace.dct import idct2

    g = torch.Generator().manual_seed(3)
    var = torch.linspace(0.1, 2.0, 16, dtype=F64).reshape(1, 1, 4, 4)
    coeffs = torch.randn(40000, 1, 4, 4, generator=g, dtype=F64) * var.sqrt()
    images = idct2(coeffs)
    s = gaussian_summary(images, dense_limit=4)                      # forces the diagonal-DCT fit
    assert s["logdet"] == pytest.approx(float(torch.log(var).sum()), abs=0.1)


@pytest.mark.parametrize("B,s2", [(20, 0.0), (20, 0.3), (90, 2.0)])
def test_frechet_reference_matches_the_dense_formulas(B, s2):
    g = torch.Generator().manual_seed(B)
    R = torch.randn(70, 30, generator=g, dtype=F64) @ torch.randn(30, 30, generator=g, dtype=F64) * 0.3
    Y = torch.randn(B, 30, generator=g, dtype=F64) * 1.3 + 0.2
    mu_r, S_r = R.mean(0).numpy(), np.cov(R.numpy().T) + s2 * np.eye(30)
    mu_y, S_y = Y.mean(0).numpy(), np.cov(Y.numpy().T)
    got = FrechetReference(R).distances(Y, [s2])[0]
    assert got == pytest.approx(frechet_distance_symmetric(mu_y, S_y, mu_r, S_r), rel=1e-8)
    assert got == pytest.approx(frechet_distance(mu_y, S_y, mu_r, S_r), rel=1e-6)
    with pytest.raises(ValueError, match="reference has"):
        FrechetReference(R).distances(Y[:, :5], [0.0])


def test_grey_entropy_of_known_histograms():
    x = torch.zeros(3, 1, 16, 16, dtype=F64)
    x[1, :, :8] = 1.0                                                 # two equal bins
    x[2] = (torch.arange(256, dtype=F64) / 255).reshape(1, 16, 16)     # every level once
    h = grey_entropy(x, (0.0, 1.0))
    assert h.tolist() == pytest.approx([0.0, math.log(2), math.log(256)], abs=1e-12)
    assert grey_entropy(2 * x - 1, (-1.0, 1.0)).tolist() == pytest.approx(h.tolist(), abs=1e-12)
    assert float(grey_entropy(x + 5.0, (0.0, 1.0))[2]) == 0.0          # clamped like rwbench.data.to_uint8


def test_monotonicity_score():
    assert monotonicity([5, 4, 4, 1]) == 0.0
    assert monotonicity([1, 2, 3]) == pytest.approx(1.0)
    assert monotonicity([3, 1, 2, 0]) == pytest.approx(1 / 5)
    assert monotonicity([1, 2, 3], decreasing=False) == 0.0
    assert monotonicity([3, float("-inf"), 2, 0]) == 0.0              # non-finite points are dropped
    assert math.isnan(monotonicity([1.0]))


def test_ensemble_mean_and_variance():
    ramp = torch.arange(4, dtype=F64).reshape(4, 1, 1, 1).expand(4, 1, 2, 2)
    X = torch.stack([torch.full((4, 1, 2, 2), 0.5, dtype=F64), ramp])
    mean, var = ensemble_mean_variance(X)
    assert mean.tolist() == pytest.approx([0.5, 1.5])
    assert var.tolist() == pytest.approx([0.0, 5 / 3])


def test_vp_forward_kl_to_standard_normal_is_non_increasing_on_samples():
    x0 = _data(N=3000)
    vp = VPProcess()
    g = torch.Generator().manual_seed(7)
    kls = []
    for t in range(0, 1000, 60):
        s = gaussian_summary(vp.sample(x0, t, generator=g))
        kls.append(gaussian_kl_per_dim(s["mean_sq"], s["trace"], s["logdet"], s["n"], 1.0))
    assert monotonicity(kls, decreasing=True) < 0.01                  # D6 about 0
    assert kls[0] > 0.5 and kls[-1] < 0.01


def test_ve_forward_entropy_is_non_decreasing_and_heat_conditional_entropy_constant():
    x0 = _data(N=3000)
    ve, heat = VEProcess(), HeatBlurProcess(noise=0.01)
    g = torch.Generator().manual_seed(8)
    ents = []
    for s in (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0):
        summ = gaussian_summary(ve.sample(x0, s, generator=g))
        ents.append(gaussian_entropy_per_dim(summ["logdet"], summ["n"]))
    assert monotonicity(ents, decreasing=False) == 0.0
    cond = []
    for t in (0.0, 0.5, 2.0, 8.0):
        residual = heat.sample(x0, t, generator=g) - heat.apply_signal(x0, t)          # x_t - A_t x_0 | x_0
        summ = gaussian_summary(residual)
        cond.append(gaussian_entropy_per_dim(summ["logdet"], summ["n"]))
        assert heat.conditional_entropy(t) == pytest.approx(0.5 * (LOG_2PI_E + math.log(1e-4)), rel=1e-14)
    assert max(cond) - min(cond) < 0.02
    assert cond[0] == pytest.approx(heat.conditional_entropy(0.0), abs=0.02)


def test_trajectory_diagnostics_on_the_exact_forward_marginal():
    x0 = _data(N=1200)
    ref, sub = x0[:600], x0[600:]
    sig = torch.tensor([5.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.0], dtype=F64)
    X = forward_trajectory(sub, sig, seed=3)
    d = trajectory_diagnostics(X, sig, (0.0, 1.0), ref)
    assert set(d) == {"mean", "variance", "gaussian_entropy", "kl_vp", "cond_entropy", "grey_entropy_mean",
                      "grey_entropy_std", "fd_reference", "fd_forward"}
    assert torch.allclose(d["variance"], sub.var(0).mean() + sig**2, rtol=0.05)
    assert d["cond_entropy"][1].item() == pytest.approx(0.5 * (LOG_2PI_E + 2 * math.log(2.0)))
    assert d["cond_entropy"][-1].item() == -math.inf and conditional_entropy_ve(0.0) == -math.inf
    scores = monotonicity_scores(d)
    assert scores["variance"] == 0.0 and scores["gaussian_entropy"] == 0.0 and scores["fd_reference"] == 0.0
    assert scores["kl_vp"] < 0.01
    assert torch.all(d["fd_forward"][:4] < 0.05 * d["fd_reference"][:4])            # the oracle curve is the floor
    assert d["fd_forward"][-1].item() == pytest.approx(d["fd_reference"][-1].item(), rel=1e-12)   # sigma = 0: same law


def test_large_images_use_diagonal_dct_entropy_and_downsampled_frechet():
    x0 = _data(N=800, side=8)
    sig = torch.tensor([3.0, 1.0, 0.0], dtype=F64)
    X = forward_trajectory(x0[:400], sig, seed=1)
    d = trajectory_diagnostics(X, sig, (0.0, 1.0), x0[400:], dense_limit=16, frechet_resolution=4)
    # area pooling 8x8 -> 4x4 divides the white-noise variance by 4: the forward marginal stays the floor
    assert torch.all(d["fd_forward"][:2] < 0.1 * d["fd_reference"][:2])
    assert monotonicity(d["gaussian_entropy"]) == 0.0
    with pytest.raises(ValueError, match="divide"):
        trajectory_diagnostics(X, sig, (0.0, 1.0), x0[400:], dense_limit=16, frechet_resolution=3)


def test_trajectory_diagnostics_rejects_bad_input():
    X = torch.zeros(3, 4, 1, 2, 2, dtype=F64)
    with pytest.raises(ValueError, match="sigmas"):
        trajectory_diagnostics(X, [1.0, 0.5], (0.0, 1.0))
    with pytest.raises(ValueError, match="X"):
        trajectory_diagnostics(X[:, :1], [1.0, 0.5, 0.0], (0.0, 1.0))
    with pytest.raises(ValueError, match="reference"):
        trajectory_diagnostics(X, [1.0, 0.5, 0.0], (0.0, 1.0), torch.zeros(5, 1, 3, 3))
