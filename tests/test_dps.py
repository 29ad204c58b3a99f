import math

import pytest
import torch

from rwbench.core import schedules
from rwbench.baselines.ddpm import ddpm_ancestral
from rwbench.baselines.dps import DPS_ZETA, default_zeta, dps
from rwbench.models.denoisers import GaussianDenoiser, eps_from_denoiser
from rwbench.tasks.operators import BicubicSR, RandomInpainting

F64 = torch.float64


def _prior():
    g = torch.Generator().manual_seed(0)
    B = torch.randn(16, 16, generator=g, dtype=F64)
    return GaussianDenoiser(0.5 + 0.1 * torch.randn(16, generator=g, dtype=F64), 0.05 * B @ B.T / 16 + 0.01 * torch.eye(16, dtype=F64),
                            sample_shape=(1, 4, 4))


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_zeta_zero_is_ddpm_ancestral(variance):
    prior = _prior()
    betas = schedules.linear_betas(50, 1e-3, 0.2)
    eps_fn = eps_from_denoiser(prior, schedules.alphas_cumprod(betas))
    xT = torch.randn(3, 1, 4, 4, dtype=F64)
    noise = torch.randn(50, 3, 1, 4, 4, dtype=F64)
    op = BicubicSR(2)
    y = torch.zeros(3, 1, 2, 2, dtype=F64)
    a = dps(eps_fn, xT, y, op, betas, 0.0, variance=variance, noise=noise)
    b = ddpm_ancestral(eps_fn, xT, betas, variance=variance, noise=noise)
    assert torch.allclose(a, b, atol=1e-10)


def test_guidance_step_is_gradient_of_residual_norm():
    # Gaussian prior: x0_hat(x_t) = D(x_t / sqrt(abar), sigma) is affine with Jacobian C (C + s^2 I)^-1 / sqrt(abar)
    prior = _prior()
    betas = schedules.linear_betas(20, 1e-3, 0.2)
    abar = schedules.alphas_cumprod(betas)
    eps_fn = eps_from_denoiser(prior, abar)
    op = RandomInpainting(0.5, seeds=[1, 2])
    xT = torch.randn(2, 1, 4, 4, dtype=F64)
    y = op.A(torch.rand(2, 1, 4, 4, dtype=F64))
    noise = torch.randn(20, 2, 1, 4, 4, dtype=F64)
    zeta = 0.7
    steps_g = []
    dps(eps_fn, xT, y, op, betas, zeta, noise=noise, callback=steps_g.append)
    C = prior.covs[0]
    for rec in steps_g[:5]:
        t = rec["t"]
        ab = abar[t].item()
        s2 = (1 - ab) / ab
        J = C @ torch.linalg.inv(C + s2 * torch.eye(16, dtype=F64)) / math.sqrt(ab)
        x = rec["x"]
        x0 = rec["x0_hat"]
        assert torch.allclose(x0, prior(x / math.sqrt(ab), torch.tensor(math.sqrt(s2), dtype=F64)), atol=1e-10)
        m = op.masks(4, 4).reshape(2, 16)
        r = (y - op.A(x0)).reshape(2, 16)
        grad = -(J.T @ (m * r).T).T / r.norm(dim=1, keepdim=True)
        beta, alpha = betas[t].item(), 1 - betas[t].item()
        ab_prev = abar[t - 1].item()
        mean = (math.sqrt(alpha) * (1 - ab_prev) / (1 - ab)) * x + (math.sqrt(ab_prev) * beta / (1 - ab)) * x0
        var = beta * (1 - ab_prev) / (1 - ab)
        expected = mean + math.sqrt(var) * noise[rec["k"]] - zeta * grad.reshape(2, 1, 4, 4)
        assert torch.allclose(rec["x_next"], expected, atol=1e-10)


def test_guidance_pulls_towards_measurement():
    prior = _prior()
    betas = schedules.linear_betas(200)
    eps_fn = eps_from_denoiser(prior, schedules.alphas_cumprod(betas))
    op = BicubicSR(2)
    truth = prior.sample(8, torch.Generator().manual_seed(3))
    y = op.A(truth)
    xT = torch.randn(8, 1, 4, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    gens = [torch.Generator().manual_seed(10 + i) for i in range(8)]
    gens0 = [torch.Generator().manual_seed(10 + i) for i in range(8)]
    guided = dps(eps_fn, xT, y, op, betas, 0.5, generators=gens)
    free = dps(eps_fn, xT, y, op, betas, 0.0, generators=gens0)
    res = lambda x: (op.A(x) - y).flatten(1).norm(dim=1).mean()
    assert res(guided) < 0.5 * res(free)


def test_defaults_and_bad_input():
    assert default_zeta("inpainting") == DPS_ZETA["inpainting"] and default_zeta("bicubic_sr") == DPS_ZETA["sr"]
    with pytest.raises(ValueError, match="task"):
        default_zeta("colourise")
    prior = _prior()
    betas = schedules.linear_betas(5)
    eps_fn = eps_from_denoiser(prior, schedules.alphas_cumprod(betas))
    x = torch.zeros(1, 1, 4, 4, dtype=F64)
    with pytest.raises(ValueError, match="zeta"):
        dps(eps_fn, x, torch.zeros(1, 1, 2, 2), BicubicSR(2), betas, -1.0)
    with pytest.raises(ValueError, match="y"):
        dps(eps_fn, x, torch.zeros(1, 1, 4, 4), BicubicSR(2), betas, 1.0)
    with pytest.raises(ValueError, match="variance"):
        dps(eps_fn, x, torch.zeros(1, 1, 2, 2), BicubicSR(2), betas, 1.0, variance="learned")
