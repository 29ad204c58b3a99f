"""Table II as a test: template + preset reproduces the native samplers' iterates with identical noise (float64)."""

import math

import pytest
import torch

from rwbench.core import presets, schedules
from rwbench.baselines.ddpm import ddpm_ancestral
from rwbench.baselines.iadb import iadb_sample
from rwbench.baselines.ncsn import annealed_langevin
from rwbench.baselines.score_sde import ve_predictor, vp_predictor
from rwbench.models.denoisers import (
    GaussianMixtureDenoiser,
    VEScoreDenoiser,
    VPEpsDenoiser,
    eps_from_denoiser,
    score_from_denoiser,
)
from rwbench.core.walk import random_walk

F64 = torch.float64
SHAPE = (3, 1, 4, 4)


def mixture(scale=1.0):
    """A two-component mixture on 16 pixels: a nonlinear, exactly known denoiser."""
    g = torch.Generator().manual_seed(1)
    d = 16
    means = scale * torch.randn(2, d, generator=g, dtype=F64)
    A = torch.randn(2, d, d, generator=g, dtype=F64) * 0.3 * scale
    covs = A @ A.transpose(1, 2) + 0.05 * torch.eye(d, dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.3, 0.7], dtype=F64), means, covs, sample_shape=SHAPE[1:])


def trajectory(run):
    xs = []
    run(lambda info: xs.append(info["x_next"].clone()))
    return torch.stack(xs)


def max_rel_err(a, b):
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max().item()


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ddpm_template_equals_native(variance):
    betas = schedules.linear_betas()
    abar = schedules.alphas_cumprod(betas)
    prior = mixture()
    eps_fn = eps_from_denoiser(prior, abar)
    T = betas.numel()
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn((T, *SHAPE), generator=g, dtype=F64)

    native = trajectory(lambda cb: ddpm_ancestral(eps_fn, x_T, betas, variance=variance, noise=noise, callback=cb))
    p = presets.ddpm(betas, variance)
    den = VPEpsDenoiser(eps_fn, abar)
    walk = trajectory(lambda cb: random_walk(den, p.init_scale * x_T, noise=noise, callback=cb, **p.walk_kwargs()))
    # template iterate k+1 lives in VE coordinates of level t-1: x_VP = sqrt(abar_{t-1}) x_VE (abar_{-1} = 1)
    abar_prev = torch.cat([torch.ones(1, dtype=F64), abar[:-1]]).flip(0)
    walk_vp = walk * abar_prev.sqrt().reshape(-1, 1, 1, 1, 1)
    assert p.init_scale == pytest.approx(1 / math.sqrt(abar[-1].item()))
    assert max_rel_err(walk_vp, native) <= 1e-9
    assert torch.isfinite(native).all() and native[-1].std() > 0.1


def test_ncsn_template_equals_native():
    prior = mixture()
    levels = schedules.geometric(10, 0.01, 1.0)
    n_each, eps = 100, 2e-5
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn((10 * n_each, *SHAPE), generator=g, dtype=F64)
    native = trajectory(lambda cb: annealed_langevin(prior.score, x0, levels, n_each, eps, noise=noise, callback=cb))
    p = presets.ncsn(levels, n_each, eps)
    den = VEScoreDenoiser(prior.score)
    walk = trajectory(lambda cb: random_walk(den, x0, noise=noise, callback=cb, **p.walk_kwargs()))
    assert p.final_noise and p.K == 1000
    assert max_rel_err(walk, native) <= 1e-9


def test_ve_sde_template_equals_native():
    prior = mixture()
    sigmas = schedules.geometric(1000, 0.01, 50.0)
    g = torch.Generator().manual_seed(3)
    x_T = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn((1000, *SHAPE), generator=g, dtype=F64)
    p = presets.ve_sde(sigmas)
    x_init = p.init_scale * x_T
    native = trajectory(lambda cb: ve_predictor(prior.score, x_init, sigmas, noise=noise, callback=cb))
    den = VEScoreDenoiser(prior.score)
    walk = trajectory(lambda cb: random_walk(den, x_init, noise=noise, callback=cb, **p.walk_kwargs()))
    assert max_rel_err(walk, native) <= 1e-9


def test_vp_sde_native_predictor_is_ddpm_to_first_order():
    betas = schedules.linear_betas()
    abar = schedules.alphas_cumprod(betas)
    prior = mixture()
    eps_fn = eps_from_denoiser(prior, abar)
    g = torch.Generator().manual_seed(4)
    x_T = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn((1000, *SHAPE), generator=g, dtype=F64)
    native = vp_predictor(eps_fn, x_T, betas, noise=noise)
    p = presets.vp_sde(betas)
    walk = random_walk(VPEpsDenoiser(eps_fn, abar), p.init_scale * x_T, noise=noise, **p.walk_kwargs())
    rel = max_rel_err(walk[None], native[None])
    assert rel < 0.05  # O(beta^2) per step differences, not rounding error
    assert rel > 1e-9  # ... and genuinely a different discretisation


def test_template_runs_native_samplers_through_reverse_adapters():
    """A denoiser turned back into eps / score drives DDPM and VE-SDE natively and matches the template."""
    prior = mixture()
    betas = schedules.linear_betas()
    abar = schedules.alphas_cumprod(betas)
    g = torch.Generator().manual_seed(5)
    x_T = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn((1000, *SHAPE), generator=g, dtype=F64)
    native = ddpm_ancestral(eps_from_denoiser(prior, abar), x_T, betas, noise=noise)
    p = presets.ddpm(betas)
    walk = random_walk(prior, p.init_scale * x_T, noise=noise, **p.walk_kwargs())
    assert max_rel_err(walk[None], native[None]) <= 1e-9
    s = torch.tensor([0.3], dtype=F64)
    x = torch.randn(SHAPE, generator=g, dtype=F64)
    assert torch.allclose(score_from_denoiser(prior)(x, s), prior.score(x, s[0]), rtol=1e-10, atol=1e-12)


def test_iadb_sampler_on_denoiser_equals_analytic_blend():
    """IADB's sampler on the Gaussian oracle: the analytic blend and the Tweedie bridge of its denoiser agree."""
    from rwbench.models.denoisers import GaussianDenoiser, IADBDenoiser, blend_from_denoiser

    g = torch.Generator().manual_seed(6)
    A = torch.randn(16, 16, generator=g, dtype=F64) * 0.2
    gauss = GaussianDenoiser(torch.randn(16, generator=g, dtype=F64), A @ A.T + 0.01 * torch.eye(16, dtype=F64), sample_shape=SHAPE[1:])
    x0 = torch.randn(SHAPE, generator=g, dtype=F64)
    analytic = lambda xa, a: gauss.blend(xa, float(a[0]))
    via_denoiser = blend_from_denoiser(gauss)
    a = torch.full((3,), 0.37, dtype=F64)
    assert torch.allclose(analytic(x0, a), via_denoiser(x0, a), rtol=1e-9, atol=1e-10)
    out_a = iadb_sample(analytic, x0, 64)
    out_b = iadb_sample(via_denoiser, x0, 64)
    assert max_rel_err(out_a, out_b) < 1e-6  # a = 0 is clamped to 1e-6 in the bridge
    # the IADB adapter turns the blend back into the same MMSE denoiser
    iadb_den = IADBDenoiser(analytic)
    s = torch.tensor(0.8, dtype=F64)
    assert torch.allclose(iadb_den(x0, s), gauss(x0, s), rtol=1e-10, atol=1e-12)
