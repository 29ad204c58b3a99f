import math

import pytest
import torch

from rwbench.core import presets, schedules
from rwbench.models.denoisers import GaussianDenoiser
from rwbench.core.rng import image_generators, image_seed
from rwbench.core.walk import random_walk

F64 = torch.float64


def gauss(d=4):
    return GaussianDenoiser(torch.zeros(d, dtype=F64), torch.eye(d, dtype=F64) * 0.5)


def test_single_step_matches_eq11_and_eq22():
    den = gauss()
    x = torch.randn(2, 4, dtype=F64)
    n = torch.randn(1, 2, 4, dtype=F64)
    s, tau, T = 0.8, 0.3, 0.7
    grad = lambda v: -2.0 * v
    out = random_walk(den, x, [s], [tau], [T], noise=n, final_noise=True, likelihood_grad=grad)
    D = den(x, torch.tensor(s, dtype=F64))
    expected = x + tau / s**2 * (D - x) + tau * grad(x) + math.sqrt(2 * tau * T) * n[0]
    assert torch.allclose(out, expected, rtol=1e-14, atol=1e-14)


def test_final_noise_flag_and_callback():
    den = gauss()
    x = torch.randn(2, 4, dtype=F64)
    noise = torch.randn(3, 2, 4, dtype=F64)
    seen = []
    kw = dict(sigmas=[2.0, 1.0, 0.5], taus=[0.5, 0.2, 0.1], temperatures=[1.0, 1.0, 1.0])
    a = random_walk(den, x, noise=noise, final_noise=False, callback=seen.append, **kw)
    b = random_walk(den, x, noise=noise, final_noise=True, **kw)
    assert torch.allclose(b - a, math.sqrt(0.2) * noise[2])
    assert [info["k"] for info in seen] == [0, 1, 2]
    assert set(seen[0]) >= {"k", "x", "sigma", "denoised"}
    assert seen[1]["sigma"].dtype == F64 and seen[1]["sigma"].ndim == 0


def test_per_image_generators_make_images_independent_of_batch():
    den = gauss(16)
    p = presets.simplified(schedules.geometric(20, 0.05, 5.0), 0.3, 0.5)
    def run(indices):
        gens = image_generators(7, "uncond", indices)
        x0 = torch.stack([torch.randn(16, generator=g, dtype=F64) for g in gens]) * p.init_scale
        return random_walk(den, x0, generator=gens, **p.walk_kwargs())
    full = run(range(6))
    parts = torch.cat([run([0, 1]), run([2, 3, 4]), run([5])])
    assert torch.equal(full, parts)
    assert image_seed(7, "uncond", 1) != image_seed(7, "inpaint", 1)


@pytest.mark.parametrize("kw, word", [
    (dict(sigmas=[1.0, 0.5], taus=[0.1], temperatures=[1.0, 1.0]), "taus"),
    (dict(sigmas=[1.0, 0.5], taus=[0.1, 0.1], temperatures=[1.0]), "temperatures"),
    (dict(sigmas=[0.5, 1.0], taus=[0.1, 0.1], temperatures=[1.0, 1.0]), "increase"),
    (dict(sigmas=[1.0, 0.0], taus=[0.1, 0.1], temperatures=[1.0, 1.0]), "> 0"),
    (dict(sigmas=[1.0, 0.5], taus=[0.1, -0.1], temperatures=[1.0, 1.0]), "taus"),
    (dict(sigmas=[1.0, 0.5], taus=[0.1, 0.1], temperatures=[1.0, -1.0]), "temperatures"),
])
def test_bad_walk_parameters_raise_value_error_naming_argument(kw, word):
    with pytest.raises(ValueError, match=word):
        random_walk(gauss(), torch.zeros(1, 4, dtype=F64), **kw)


def test_bad_noise_and_generator_lengths():
    with pytest.raises(ValueError, match="noise"):
        random_walk(gauss(), torch.zeros(2, 4, dtype=F64), [1.0], [0.1], [1.0], noise=torch.zeros(2, 2, 4), final_noise=True)
    with pytest.raises(ValueError, match="generator"):
        random_walk(gauss(), torch.zeros(2, 4, dtype=F64), [1.0], [0.1], [1.0], generator=image_generators(0, "u", [0]))


def test_repeated_levels_are_allowed_for_ncsn():
    p = presets.ncsn([1.0, 0.1], 3, 1e-3)
    assert p.K == 6 and torch.equal(p.sigmas[:3], torch.ones(3, dtype=F64))


def test_presets_parameters():
    sig = schedules.geometric(5, 0.1, 10.0)
    ve = presets.ve_sde(sig)
    assert ve.taus[-1].item() == pytest.approx(0.01) and torch.all(ve.temperatures == 0.5) and not ve.final_noise
    simp = presets.simplified(sig, 0.4, 0.2)
    assert torch.allclose(simp.taus, 0.4 * sig**2) and simp.temperatures[-1] == 1.0 and simp.init_scale == pytest.approx(10.0)
    assert presets.simplified(sig, 0.4, 0.2, init="unit").init_scale == 1.0
    dd = presets.ddpm(schedules.linear_betas(), "beta_tilde")
    assert dd.temperatures[-1].item() == 0.0  # beta_tilde_0 = 0: the last DDPM step is deterministic
    with pytest.raises(ValueError, match="variance"):
        presets.ddpm(schedules.linear_betas(), "learned")
    with pytest.raises(ValueError, match="init"):
        presets.simplified(sig, 0.4, 0.2, init="zeros")
