"""DDIM (rwbench.baselines.ddim) on exact priors: eta = 1 is DDPM with beta_tilde, eta = 0 converges to the PF-ODE flow,
per-image reproducibility, and presets.ddim reproduces it on the random-walk template for every eta (float64)."""

import math

import pytest
import torch

from rwbench.core import presets, schedules
from rwbench.baselines.ddim import ddim, ddim_sigma
from rwbench.baselines.ddpm import ddpm_ancestral
from rwbench.models.denoisers import GaussianDenoiser, GaussianMixtureDenoiser, VPEpsDenoiser, eps_from_denoiser
from rwbench.core.rng import image_generators
from rwbench.core.schedules import respaced_betas, respaced_timesteps
from rwbench.core.walk import random_walk

F64 = torch.float64
SHAPE = (3, 1, 2, 3)


def mixture():
    g = torch.Generator().manual_seed(21)
    A = 0.4 * torch.randn(2, 6, 6, generator=g, dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.5, 0.5], dtype=F64), torch.randn(2, 6, generator=g, dtype=F64),
                                   A @ A.transpose(1, 2) + 0.05 * torch.eye(6, dtype=F64), sample_shape=SHAPE[1:])


def gaussian():
    g = torch.Generator().manual_seed(22)
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=F64))
    lam = torch.logspace(-1.5, 0.5, 6, dtype=F64)
    return GaussianDenoiser(0.5 * torch.randn(6, generator=g, dtype=F64), Q @ torch.diag(lam) @ Q.T, sample_shape=SHAPE[1:])


def chain(steps):
    """Respaced DDPM chain (betas) of `steps` steps out of the linear T = 1000 schedule."""
    full = schedules.linear_betas()
    return respaced_betas(full, respaced_timesteps(full.numel(), steps))


def rel(a, b):
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max().item()


def trajectory(run):
    xs = []
    run(lambda info: xs.append(info["x_next"].clone()))
    return torch.stack(xs)


def test_eta_one_is_ddpm_with_posterior_variance():
    """DDIM eq. 16 at eta = 1: sigma_t^2 = beta_tilde_t, and its mean is DDPM's posterior mean (Song et al. 2021)."""
    prior = mixture()
    betas = chain(50)
    eps_fn = eps_from_denoiser(prior, schedules.alphas_cumprod(betas))
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn(50, *SHAPE, generator=g, dtype=F64)
    a = trajectory(lambda cb: ddim(eps_fn, x_T, betas, eta=1.0, noise=noise, callback=cb))
    b = trajectory(lambda cb: ddpm_ancestral(eps_fn, x_T, betas, variance="beta_tilde", noise=noise, callback=cb))
    assert rel(a.flatten(0, 1), b.flatten(0, 1)) < 1e-12
    # ... and DDIM at eta = 0.5 is something else
    assert rel(ddim(eps_fn, x_T, betas, eta=0.5, noise=noise), b[-1]) > 1e-3
    abar = schedules.alphas_cumprod(betas)
    t = 10
    beta_tilde = betas[t] * (1 - abar[t - 1]) / (1 - abar[t])
    assert ddim_sigma(float(abar[t]), float(abar[t - 1]), 1.0) ** 2 == pytest.approx(float(beta_tilde), rel=1e-12)


def test_eta_zero_converges_to_the_probability_flow():
    """Deterministic DDIM is a first-order PF-ODE solver: x_T / sqrt(abar_T) flows to m + U sqrt(lam/(lam + s^2)) U^T (x - m)."""
    prior = gaussian()
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=F64)
    m, U, lam = prior.means[0], prior.eigvecs[0], prior.eigvals[0]
    errors = []
    for steps in (25, 50, 100):
        betas = chain(steps)
        abar = schedules.alphas_cumprod(betas)
        x_ve = x_T / abar[-1].sqrt()
        s0 = float(torch.sqrt((1 - abar[-1]) / abar[-1]))
        y = (x_ve.reshape(3, -1) - m) @ U
        exact = (m + (y * torch.sqrt(lam / (lam + s0**2))) @ U.T).reshape(SHAPE)
        out = ddim(eps_from_denoiser(prior, abar), x_T, betas, eta=0.0)  # ends at abar_{-1} = 1: VP = VE there
        errors.append(rel(out, exact))
    assert 1.6 < errors[0] / errors[1] < 2.4 and 1.6 < errors[1] / errors[2] < 2.4, errors
    # no noise source is needed at eta = 0
    assert errors[-1] < 0.05


def test_per_image_generators_make_images_independent_of_batch_layout():
    prior = mixture()
    betas = chain(20)
    eps_fn = eps_from_denoiser(prior, schedules.alphas_cumprod(betas))
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2), dtype=F64)
    whole = ddim(eps_fn, x_T, betas, eta=0.6, generators=image_generators(1, "t", [0, 1, 2]))
    alone = ddim(eps_fn, x_T[1:2], betas, eta=0.6, generators=image_generators(1, "t", [1]))
    assert torch.allclose(alone[0], whole[1], rtol=1e-13, atol=1e-13)
    other = ddim(eps_fn, x_T, betas, eta=0.6, generators=image_generators(2, "t", [0, 1, 2]))
    assert rel(other, whole) > 1e-3


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_ddim_preset_on_the_template_equals_native_ddim(eta):
    """presets.ddim(betas, eta) on the walk == native DDIM step by step, in VP coordinates x_VP = sqrt(abar_{t-1}) x_VE."""
    prior = mixture()
    steps = 40
    betas = chain(steps)
    abar = schedules.alphas_cumprod(betas)
    eps_fn = eps_from_denoiser(prior, abar)
    g = torch.Generator().manual_seed(3)
    x_T = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn(steps, *SHAPE, generator=g, dtype=F64)
    native = trajectory(lambda cb: ddim(eps_fn, x_T, betas, eta=eta, noise=noise, callback=cb))
    p = presets.ddim(betas, eta)
    assert p.K == steps and p.init_scale == pytest.approx(1 / math.sqrt(float(abar[-1])), rel=1e-15)
    assert not p.final_noise and float(p.temperatures[-1]) == 0.0
    walk = trajectory(lambda cb: random_walk(VPEpsDenoiser(eps_fn, abar), p.init_scale * x_T, noise=noise, callback=cb,
                                             **p.walk_kwargs()))
    abar_prev = torch.cat([torch.ones(1, dtype=F64), abar[:-1]]).flip(0)
    walk_vp = walk * abar_prev.sqrt().reshape(-1, 1, 1, 1, 1)
    assert rel(walk_vp.flatten(0, 1), native.flatten(0, 1)) < 1e-11
    if eta == 0:
        assert torch.all(p.temperatures == 0)


def test_bad_inputs_fail_with_one_line():
    prior = mixture()
    betas = chain(10)
    eps_fn = eps_from_denoiser(prior, schedules.alphas_cumprod(betas))
    x_T = torch.zeros(SHAPE, dtype=F64)
    with pytest.raises(ValueError, match="noise/generators"):
        ddim(eps_fn, x_T, betas, eta=0.5)
    with pytest.raises(ValueError, match="noise: need shape"):
        ddim(eps_fn, x_T, betas, eta=0.5, noise=torch.zeros(9, *SHAPE, dtype=F64))
    with pytest.raises(ValueError, match="eta"):
        ddim(eps_fn, x_T, betas, eta=-1.0)
    with pytest.raises(ValueError, match="eta <= 1"):
        ddim(eps_fn, x_T, betas, eta=3.0, noise=torch.zeros(10, *SHAPE, dtype=F64))
