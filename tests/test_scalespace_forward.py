import math

import numpy as np
import pytest
import torch

from rwbench.scalespace.dct import dct2, dct_matrix, idct2, laplacian_eigenvalues
from rwbench.scalespace.diagnostics import gaussian_kl_per_dim, monotonicity
from rwbench.scalespace.filters import homogeneous_diffusion
from rwbench.scalespace.forward import (BlurNoiseProcess, HeatBlurProcess, VEProcess, VPProcess, forward_process)

F64 = torch.float64


def _gaussian_data(n_side=4, seed=0):
    """A correlated non-centred Gaussian data law on 1 x n_side x n_side images: mean [n], covariance [n, n]."""
    g = torch.Generator().manual_seed(seed)
    n = n_side * n_side
    L = torch.randn(n, n, generator=g, dtype=F64) / math.sqrt(n)
    return 0.5 + 0.2 * torch.rand(n, generator=g, dtype=F64), 0.05 * L @ L.T + 1e-3 * torch.eye(n, dtype=F64)


def test_dct_matrix_is_orthonormal_and_matches_scipy():
    from scipy.fft import dct

    for N in (1, 5, 16):
        C = dct_matrix(N)
        assert torch.allclose(C @ C.T, torch.eye(N, dtype=F64), atol=1e-13)
        x = np.random.default_rng(N).normal(size=N)
        assert np.allclose(C.numpy() @ x, dct(x, type=2, norm="ortho"), atol=1e-12)
    x = torch.randn(2, 3, 5, 7, dtype=F64)
    assert torch.allclose(idct2(dct2(x)), x, atol=1e-12)
    with pytest.raises(ValueError, match="N"):
        dct_matrix(0)


def test_dct_diagonalises_the_reflecting_finite_difference_laplacian():
    N = 9
    L = torch.diag(torch.full((N,), -2.0, dtype=F64)) + torch.diag(torch.ones(N - 1, dtype=F64), 1) \
        + torch.diag(torch.ones(N - 1, dtype=F64), -1)
    L[0, 0] = L[-1, -1] = -1.0                               # reflecting (Neumann) boundary
    C = dct_matrix(N)
    lam = laplacian_eigenvalues(N, 1, "discrete")[:, 0]
    assert torch.allclose(C @ L @ C.T, -torch.diag(lam), atol=1e-12)
    cont = laplacian_eigenvalues(N, 1, "continuous")[:, 0]
    assert torch.allclose(cont, (math.pi * torch.arange(N, dtype=F64) / N) ** 2)
    with pytest.raises(ValueError, match="spectrum"):
        laplacian_eigenvalues(4, 4, "spectral")


def test_vp_kernel_scale_and_variance():
    vp = VPProcess()
    for t in (0, 10, 500, 999):
        assert float(vp.signal_scale(t)) ** 2 + vp.variance(t) == pytest.approx(1.0, abs=1e-14)
        sig = vp.sigma_ve(t)
        assert vp.variance(t) == pytest.approx(sig**2 / (1 + sig**2), rel=1e-12)
    ents = [vp.conditional_entropy(t) for t in range(0, 1000, 37)]
    assert all(b > a for a, b in zip(ents, ents[1:]))
    assert vp.conditional_entropy(999) == pytest.approx(0.5 * math.log(2 * math.pi * math.e * (1 - float(vp.abar[-1]))))
    with pytest.raises(ValueError, match="level"):
        vp.signal_scale(1000)
    with pytest.raises(ValueError, match="level"):
        vp.noise_std(2.5)


def test_kernel_samples_have_the_exact_mean_and_variance():
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(1, 1, 4, 4, generator=g, dtype=F64).expand(4000, 1, 4, 4)
    for proc, level in ((VPProcess(), 300), (VEProcess(), 0.7), (HeatBlurProcess(noise=0.05), 2.0),
                        (BlurNoiseProcess(), 400)):
        x = proc.sample(x0, level, generator=g)
        mean = proc.apply_signal(x0[:1], level)[0]
        se = proc.noise_std(level) / math.sqrt(4000)
        assert (x.mean(0) - mean).abs().max() < 5 * se
        assert x.var(0).mean().item() == pytest.approx(proc.variance(level), rel=0.03)


def test_ve_marginal_variance_is_data_variance_plus_sigma_squared():
    x0 = torch.rand(50, 2, 3, 3, dtype=F64)
    ve = VEProcess()
    for s in (0.0, 0.1, 3.0):
        assert torch.allclose(ve.marginal_variance(x0, s), x0.var(0) + s * s, atol=1e-12)
    ents = [ve.conditional_entropy(s) for s in (0.1, 1.0, 10.0)]
    assert ents == sorted(ents) and ents[0] < ents[-1]
    with pytest.raises(ValueError, match="noise-free"):
        ve.conditional_entropy(0.0)


def test_heat_blur_is_a_semigroup_with_constant_conditional_entropy():
    heat = HeatBlurProcess()
    x0 = torch.rand(3, 2, 6, 5, dtype=F64)
    a = heat.apply_signal(heat.apply_signal(x0, 0.7), 1.8)
    assert torch.allclose(a, heat.apply_signal(x0, 2.5), atol=1e-12)              # A(s) A(t) = A(s + t)
    assert torch.allclose(heat.apply_signal(x0, 0.0), x0, atol=1e-12)              # A(0) = I
    assert torch.allclose(heat.apply_signal(x0, 4.0).mean((-1, -2)), x0.mean((-1, -2)), atol=1e-12)   # DC kept
    assert torch.allclose(heat.apply_signal(x0, 1.3), homogeneous_diffusion(x0, 1.3), atol=1e-13)    # mean = diffusion
    ents = {round(heat.conditional_entropy(t), 14) for t in (0.0, 0.5, 10.0, 1e3)}
    assert ents == {round(0.5 * math.log(2 * math.pi * math.e * 1e-4), 14)}
    assert HeatBlurProcess.time_of_blur(2.0) == 2.0


def test_heat_blur_per_coefficient_variance_decays_except_dc():
    heat = HeatBlurProcess(noise=0.01)
    mean0, cov0 = _gaussian_data()
    shape = (1, 4, 4)
    C = torch.kron(dct_matrix(4), dct_matrix(4))                                  # flattened 2-D DCT
    lam = laplacian_eigenvalues(4, 4).reshape(-1)
    var0 = torch.diagonal(C @ cov0 @ C.T)
    for t in (0.0, 0.5, 3.0):
        _, cov = heat.marginal_moments(mean0, cov0, t, shape)
        var_t = torch.diagonal(C @ cov @ C.T)
        assert torch.allclose(var_t, torch.exp(-2 * lam * t) * var0 + 1e-4, atol=1e-12)


def test_blur_noise_factors():
    bn = BlurNoiseProcess(blur_sigma_max=4.0, d_min=0.001)
    f0 = bn.signal_scale(0, (8, 8))
    assert torch.allclose(f0, torch.full((8, 8), float(bn.abar[0].sqrt()), dtype=F64))    # tau_0 = 0: no blur
    fT = bn.signal_scale(999, (8, 8))
    assert float(fT[0, 0]) == pytest.approx(float(bn.abar[999].sqrt()), rel=1e-12)          # DC only scaled
    lam_max = laplacian_eigenvalues(8, 8)[-1, -1].item()
    want = float(bn.abar[999].sqrt()) * (0.999 * math.exp(-lam_max * 8.0) + 0.001)         # tau_T = 4^2 / 2 = 8
    assert float(fT[-1, -1]) == pytest.approx(want, rel=1e-9)
    assert bn.blur_time(999) == pytest.approx(8.0)
    ents = [bn.conditional_entropy(t) for t in (1, 100, 900)]
    assert ents == sorted(ents)
    with pytest.raises(ValueError, match="d_min"):
        BlurNoiseProcess(d_min=1.0)


def test_exact_vp_kl_to_standard_normal_is_non_increasing():
    vp = VPProcess()
    mean0, cov0 = _gaussian_data()
    kls = []
    for t in range(0, 1000, 50):
        m, S = vp.marginal_moments(mean0, cov0, t, (1, 4, 4))
        kls.append(gaussian_kl_per_dim(float(m @ m), float(torch.trace(S)), float(torch.linalg.slogdet(S)[1]), 16, 1.0))
    assert monotonicity(kls, decreasing=True) == 0.0
    assert kls[0] > 1.0 and kls[-1] < 1e-3


def test_exact_ve_entropy_is_non_decreasing_and_heat_entropy_of_blur_is_not():
    mean0, cov0 = _gaussian_data()
    ve, heat = VEProcess(), HeatBlurProcess()
    ve_ent = [float(torch.linalg.slogdet(ve.marginal_moments(mean0, cov0, s, (1, 4, 4))[1])[1]) for s in (0, .1, .5, 2, 9)]
    assert monotonicity(ve_ent, decreasing=False) == 0.0
    heat_ent = [float(torch.linalg.slogdet(heat.marginal_moments(mean0, cov0, t, (1, 4, 4))[1])[1]) for t in (0, .5, 2, 9)]
    assert monotonicity(heat_ent, decreasing=True) == 0.0                           # blur removes information


def test_forward_process_factory():
    assert isinstance(forward_process("heat", noise=0.02), HeatBlurProcess)
    with pytest.raises(ValueError, match="unknown"):
        forward_process("edm")
    with pytest.raises(ValueError, match="x0"):
        VEProcess().apply_signal(torch.zeros(3, 4), 0.1)
