"""The template's reach: presets.euler / euler_ancestral reproduce the native solvers (every eta), and presets.ncsn's
two conventions reproduce the native NCSN sampler in the same convention, to rounding error in float64."""

import math

import pytest
import torch

from rwbench.core import presets, schedules
from rwbench.baselines import solvers
from rwbench.baselines.ncsn import annealed_langevin
from rwbench.core.schedules import langevin_step_size
from rwbench.core.schedules import ncsn_initial_state
from rwbench.models.denoisers import GaussianMixtureDenoiser, VEScoreDenoiser
from rwbench.core.rng import image_generators
from rwbench.core.walk import random_walk

F64 = torch.float64
SHAPE = (3, 1, 2, 3)


def mixture():
    g = torch.Generator().manual_seed(31)
    A = 0.4 * torch.randn(2, 6, 6, generator=g, dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.3, 0.7], dtype=F64), torch.randn(2, 6, generator=g, dtype=F64),
                                   A @ A.transpose(1, 2) + 0.05 * torch.eye(6, dtype=F64), sample_shape=SHAPE[1:])


def ladders():
    karras = (20.0 ** (1 / 7) + torch.linspace(0, 1, 12, dtype=F64) * (0.01 ** (1 / 7) - 20.0 ** (1 / 7))) ** 7
    return {"karras-to-zero": torch.cat([karras, torch.zeros(1, dtype=F64)]),
            "geometric-no-zero": schedules.geometric(10, 0.05, 20.0),
            "repeated-level": torch.tensor([20.0, 5.0, 5.0, 1.0, 0.2, 0.0], dtype=F64)}


def trajectory(run):
    xs = []
    run(lambda info: xs.append(info["x_next"].clone()))
    return torch.stack(xs)


def rel(a, b):
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1).clamp(min=1e-300)).max().item()


@pytest.mark.parametrize("eta", [0.0, 0.4, 1.0, 1.5])
@pytest.mark.parametrize("ladder_name", ["karras-to-zero", "geometric-no-zero", "repeated-level"])
def test_euler_ancestral_preset_equals_the_solver_at_every_step(eta, ladder_name):
    prior = mixture()
    sigmas = ladders()[ladder_name]
    N = sigmas.numel() - 1
    g = torch.Generator().manual_seed(1)
    z = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn(N, *SHAPE, generator=g, dtype=F64)
    p = presets.euler_ancestral(sigmas, eta)
    assert p.K == N and p.final_noise == (float(sigmas[-1]) > 0) and p.init_scale == float(sigmas[0])
    walk = trajectory(lambda cb: random_walk(prior, p.initial(z), noise=noise, callback=cb, **p.walk_kwargs()))
    native = trajectory(lambda cb: solvers.euler_ancestral(prior, float(sigmas[0]) * z, sigmas, eta=eta, noise=noise,
                                                           callback=cb))
    assert rel(walk.flatten(0, 1), native.flatten(0, 1)) < 1e-12


def test_walk_parameters_follow_the_derivation():
    """tau_k = sigma_k (sigma_k - sigma_down), T_k = sigma_up^2 / (2 tau_k); eta = 1: tau = sigma_k^2 - sigma_{k+1}^2,
    T = sigma_{k+1}^2 / (2 sigma_k^2); eta = 0: Euler, T = 0, tau = sigma_k (sigma_k - sigma_{k+1})."""
    sigmas = ladders()["karras-to-zero"]
    s, nxt = sigmas[:-1], sigmas[1:]
    p1 = presets.euler_ancestral(sigmas, 1.0)
    assert torch.allclose(p1.taus, s**2 - nxt**2, rtol=1e-13)
    assert torch.allclose(p1.temperatures[:-1], nxt[:-1] ** 2 / (2 * s[:-1] ** 2), rtol=1e-12)
    assert float(p1.temperatures[-1]) == 0.0 and float(p1.taus[-1]) == float(s[-1]) ** 2  # last step lands on D
    p0 = presets.euler(sigmas)
    assert torch.all(p0.temperatures == 0) and torch.allclose(p0.taus, s * (s - nxt), rtol=1e-15)
    assert torch.equal(p0.taus, presets.euler_ancestral(sigmas, 0.0).taus)
    rep = presets.euler_ancestral(ladders()["repeated-level"], 0.7)
    assert float(rep.taus[1]) == 0.0 and float(rep.temperatures[1]) == 0.0  # sigma_{k+1} = sigma_k: no move, no noise
    half = presets.euler_ancestral(sigmas, 0.5, s_noise=0.9)
    for k in (0, 5):
        down, up = schedules.ancestral_step(float(s[k]), float(nxt[k]), 0.5)
        tau = float(s[k]) * (float(s[k]) - down)
        assert float(half.taus[k]) == pytest.approx(tau, rel=1e-15)
        assert float(half.temperatures[k]) == pytest.approx(0.81 * up**2 / (2 * tau), rel=1e-13)


def test_euler_preset_equals_euler_solver_and_generators_draw_alike():
    prior = mixture()
    sigmas = ladders()["geometric-no-zero"]
    z = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2), dtype=F64)
    p = presets.euler(sigmas)
    assert rel(random_walk(prior, p.initial(z), **p.walk_kwargs()), solvers.euler(prior, p.initial(z), sigmas)) < 1e-12
    # per-image generators: the walk and the solver draw the same n_k at the same steps
    pa = presets.euler_ancestral(sigmas, 0.8)
    walk = random_walk(prior, pa.initial(z), generator=image_generators(5, "t", [0, 1, 2]), **pa.walk_kwargs())
    native = solvers.euler_ancestral(prior, pa.initial(z), sigmas, eta=0.8, generator=image_generators(5, "t", [0, 1, 2]))
    assert rel(walk, native) < 1e-12


@pytest.mark.parametrize("convention", ["paper", "released"])
def test_ncsn_preset_equals_native_in_both_conventions(convention):
    prior = mixture()
    levels = schedules.geometric(5, 0.05, 2.0)
    n_each, eps = 4, 2e-3
    g = torch.Generator().manual_seed(3)
    z = torch.randn(SHAPE, generator=g, dtype=F64)
    noise = torch.randn(5 * n_each, *SHAPE, generator=g, dtype=F64)
    p = presets.ncsn(levels, n_each, eps, convention=convention)
    x0 = ncsn_initial_state(z, float(levels[0]), convention)
    assert torch.equal(p.initial(z), x0)
    native = trajectory(lambda cb: annealed_langevin(prior.score, x0, levels, n_each, eps, convention=convention,
                                                     noise=noise, callback=cb))
    walk = trajectory(lambda cb: random_walk(VEScoreDenoiser(prior.score), p.initial(z), noise=noise, callback=cb,
                                             **p.walk_kwargs()))
    assert rel(walk.flatten(0, 1), native.flatten(0, 1)) < 1e-12


def test_released_ncsn_takes_twice_the_papers_step_and_a_uniform_start():
    levels = schedules.geometric(10, 0.01, 1.0)
    paper, released = presets.ncsn(levels, 3, 2e-5), presets.ncsn(levels, 3, 2e-5, convention="released")
    assert torch.equal(released.taus, 2 * paper.taus)
    # released code: step_size = step_lr (sigma / sigma_L)^2 is the walk's tau (x + tau s + sqrt(2 tau) z)
    assert float(released.taus[0]) == pytest.approx(2e-5 * (1.0 / 0.01) ** 2, rel=1e-13)
    assert langevin_step_size(0.5, 0.01, 2e-5, "released") == pytest.approx(2 * 2e-5 * 0.25 / 1e-4, rel=1e-14)
    assert paper.init == "normal" and paper.init_scale == pytest.approx(1.0) and released.init == "uniform"
    z = torch.randn(20000, generator=torch.Generator().manual_seed(4), dtype=F64)
    u = released.initial(z)
    assert float(u.min()) > 0 and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 4 * math.sqrt(1 / 12 / 20000)
    assert abs(float(u.var()) - 1 / 12) < 4 * (1 / 12) * math.sqrt(0.8 / 20000)  # Var of U's sample variance ~ 0.8 (1/12)^2 / n
    assert torch.equal(released.initial(z[:5]), u[:5])  # a function of image i's own normal draw
    with pytest.raises(ValueError, match="convention"):
        presets.ncsn(levels, 3, 2e-5, convention="code")
    with pytest.raises(ValueError, match="init"):
        presets.WalkParams(paper.sigmas, paper.taus, paper.temperatures, 1.0, True, init="laplace")
