import pytest
import torch

from rwbench.core import schedules
from rwbench.models.denoisers import GaussianDenoiser
from rwbench.core.conditional import (
    ConditionalSetup,
    conditional_random_walk,
    conditional_steps,
    eta_on_unit_scale,
    likelihood_gradient,
    step_cap,
)
from rwbench.tasks.operators import BicubicSR, RandomInpainting
from rwbench.models.oracle_posterior import gmm_posterior, posterior_mean

F64 = torch.float64


def test_likelihood_gradient_is_autograd_of_log_likelihood():
    op = BicubicSR(2)
    x = torch.randn(2, 3, 8, 8, dtype=F64, requires_grad=True)
    y = torch.randn(2, 3, 4, 4, dtype=F64)
    eta = 0.3
    logl = -0.5 * ((y - op.A(x)) ** 2).sum() / eta**2
    (auto,) = torch.autograd.grad(logl, x)
    assert torch.allclose(likelihood_gradient(op, y, eta)(x.detach()), auto, atol=1e-12)


def test_step_caps():
    sigmas = torch.tensor([10.0, 1.0, 0.1, 0.01], dtype=F64)
    sr, inp = BicubicSR(4), RandomInpainting(0.92, seeds=[0])
    shape = (1, 16, 16)
    eta = 0.2
    assert step_cap("paper-code", sr, eta, shape) == pytest.approx(0.04)
    assert step_cap("lipschitz", sr, eta, shape) == pytest.approx(0.04 * 16, rel=1e-6)     # ||A||^2 = 1/16
    assert step_cap("lipschitz", inp, eta, shape) == pytest.approx(0.04, rel=1e-10)        # ||A||^2 = 1
    assert step_cap("none", sr, eta, shape) is None
    taus = conditional_steps(sigmas, 0.5, sr, eta, shape, cap="lipschitz")
    expected = torch.minimum(0.5 * sigmas**2, torch.tensor(eta**2 / sr.norm_sq(shape), dtype=F64))
    assert torch.allclose(taus, expected, atol=0)
    taus_pc = conditional_steps(sigmas, 0.5, sr, eta, shape, cap="paper-code")
    assert torch.allclose(taus_pc, torch.minimum(0.5 * sigmas**2, torch.tensor(0.04, dtype=F64)))


def test_setup_records_eta_on_both_scales():
    s = ConditionalSetup(BicubicSR(4), 0.2, (-1.0, 1.0), (3, 16, 16), c=0.15651, cap="paper-code")
    d = s.to_dict()
    assert d["eta"] == 0.2 and d["eta_unit"] == pytest.approx(0.1)
    assert d["tau_cap"] == pytest.approx(0.04) and d["lipschitz"] == pytest.approx(1 / 16 / 0.04, rel=1e-6)
    assert d["operator"] == {"name": "bicubic_sr", "factor": 4}
    assert eta_on_unit_scale(0.2, (0, 1)) == 0.2
    ve = ConditionalSetup(RandomInpainting(0.92, seeds=[1]), 0.2, (0, 1), (3, 16, 16), c=0.29487)
    assert ve.eta_unit == 0.2 and ve.tau_cap == pytest.approx(0.04)


def test_conditional_walk_matches_hand_loop():
    torch.manual_seed(0)
    d_shape = (1, 4, 4)
    C = torch.randn(16, 16, dtype=F64)
    prior = GaussianDenoiser(torch.rand(16, dtype=F64), C @ C.T / 16 + 0.1 * torch.eye(16, dtype=F64), sample_shape=d_shape)
    op = RandomInpainting(0.5, seeds=[3, 4])
    x0 = torch.randn(2, *d_shape, dtype=F64)
    y = op.A(torch.rand(2, *d_shape, dtype=F64))
    sigmas = schedules.geometric(6, 0.05, 3.0)
    temps = schedules.linear_temperatures(6, 0.3, 1.0)
    eta, c = 0.1, 0.4
    noise = torch.randn(6, 2, *d_shape, dtype=F64)
    out = conditional_random_walk(prior, x0, y, op, eta, sigmas, temps, c=c, noise=noise, final_noise=True)
    x = x0.clone()
    cap = eta**2 / 1.0
    m = op.masks(4, 4)
    for k in range(6):
        s = sigmas[k].item()
        tau = min(c * s * s, cap)
        x = (x + tau / s**2 * (prior(x, sigmas[k]) - x) + tau / eta**2 * m * (y - m * x)
             + (2 * tau * temps[k].item()) ** 0.5 * noise[k])
    assert torch.allclose(out, x, atol=1e-12)


def test_conditional_walk_samples_gaussian_posterior():
    # Gaussian prior, SR operator: a long walk at a small final level draws from the exact posterior
    torch.manual_seed(1)
    shape = (1, 4, 4)
    B = torch.randn(16, 16, dtype=F64)
    prior = GaussianDenoiser(0.5 + 0.1 * torch.randn(16, dtype=F64), 0.05 * B @ B.T / 16 + 0.01 * torch.eye(16, dtype=F64),
                             sample_shape=shape)
    op = BicubicSR(2)
    eta = 0.1
    truth = prior.sample(1, torch.Generator().manual_seed(2))
    y = op.measure(truth, eta, [torch.Generator().manual_seed(3)])
    post = gmm_posterior(prior, op.dense(shape), y[0], eta)
    n = 4000
    sigmas = torch.cat([schedules.geometric(150, 0.01, 2.0), torch.full((150,), 0.01, dtype=F64)])
    gen = torch.Generator().manual_seed(4)
    x0 = 2.0 * torch.randn(n, *shape, generator=gen, dtype=F64)
    x = conditional_random_walk(prior, x0, y.expand(n, *y.shape[1:]), op, eta, sigmas, torch.ones(300), c=0.5, generator=gen)
    flat = x.reshape(n, -1)
    sd = post.covs[0].diagonal().sqrt()
    assert torch.all((flat.mean(0) - posterior_mean(post).reshape(-1)).abs() < 5 * sd / n**0.5 + 0.01 * sd)
    assert torch.allclose(flat.std(0), sd, rtol=0.12)


def test_bad_input():
    op = BicubicSR(4)
    x = torch.zeros(1, 1, 8, 8, dtype=F64)
    with pytest.raises(ValueError, match="eta"):
        likelihood_gradient(op, torch.zeros(1, 1, 2, 2), 0.0)
    with pytest.raises(ValueError, match="eta"):
        ConditionalSetup(op, -1.0, (0, 1), (1, 8, 8), c=0.1)
    with pytest.raises(ValueError, match="cap"):
        step_cap("bogus", op, 0.1, (1, 8, 8))
    with pytest.raises(ValueError, match="y"):
        conditional_random_walk(lambda x, s: x, x, torch.zeros(1, 1, 4, 4), op, 0.1, [1.0], [1.0], c=0.1)
    with pytest.raises(ValueError, match="c/taus"):
        conditional_random_walk(lambda x, s: x, x, torch.zeros(1, 1, 2, 2), op, 0.1, [1.0], [1.0])
    with pytest.raises(ValueError, match="divide"):
        ConditionalSetup(op, 0.1, (0, 1), (1, 10, 10), c=0.1)
    with pytest.raises(ValueError, match="data_range"):
        eta_on_unit_scale(0.1, (1, 1))
