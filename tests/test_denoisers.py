import math

import pytest
import torch

from rwbench.core import schedules
from rwbench.models.denoisers import (
    GaussianDenoiser,
    IADBDenoiser,
    VEScoreDenoiser,
    VPEpsDenoiser,
    blend_from_denoiser,
    eps_from_denoiser,
    score_from_denoiser,
)

F64 = torch.float64
ABAR = schedules.alphas_cumprod(schedules.linear_betas())


@pytest.mark.parametrize("sigma, t", [(84.6, 935.5), (14.9, 729.5), (1.0, 258.1), (0.1, 26.4)])
def test_noise_to_time_check_values(sigma, t):
    assert VPEpsDenoiser(lambda x, t: x, ABAR).sigma_to_t(sigma) == pytest.approx(t, abs=0.06)


def test_noise_to_time_is_exact_inverse_at_and_between_levels():
    den = VPEpsDenoiser(lambda x, t: x, ABAR)
    sig = schedules.vp_sigmas(schedules.linear_betas())
    for t in (0, 1, 17, 500, 998, 999):
        assert den.sigma_to_t(sig[t]) == pytest.approx(t, abs=1e-9)
    mid = 0.25 * sig[10] + 0.75 * sig[11]
    assert den.sigma_to_t(mid) == pytest.approx(10.75, abs=1e-9)


def test_vp_adapter_formula():
    calls = {}
    def eps_fn(x_vp, t):
        calls["x"], calls["t"] = x_vp, t
        return torch.tanh(x_vp) + t[:, None] / 1000
    den = VPEpsDenoiser(eps_fn, ABAR)
    x = torch.randn(3, 5, dtype=F64)
    s = torch.tensor(2.0, dtype=F64)
    out = den(x, s)
    t = den.sigma_to_t(2.0)
    x_vp = x / math.sqrt(1 + 4.0)
    assert torch.allclose(calls["x"], x_vp) and calls["t"].shape == (3,)
    assert torch.allclose(out, x - 2.0 * (torch.tanh(x_vp) + t / 1000))


def test_round_trips_through_native_parametrisations():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(5, 5, generator=g, dtype=F64)
    oracle = GaussianDenoiser(torch.randn(5, generator=g, dtype=F64), A @ A.T)
    x = torch.randn(4, 5, generator=g, dtype=F64)
    s = torch.tensor(0.9, dtype=F64)
    ve = VEScoreDenoiser(score_from_denoiser(oracle))
    assert torch.allclose(ve(x, s), oracle(x, s), rtol=1e-12, atol=1e-12)
    vp = VPEpsDenoiser(eps_from_denoiser(oracle, ABAR), ABAR)
    sig = schedules.vp_sigmas(schedules.linear_betas())[300]
    assert torch.allclose(vp(x, sig), oracle(x, sig), rtol=1e-9, atol=1e-9)
    ia = IADBDenoiser(blend_from_denoiser(oracle))
    assert torch.allclose(ia(x, s), oracle(x, s), rtol=1e-12, atol=1e-12)


def test_adapters_reject_bad_sigma_and_tables():
    with pytest.raises(ValueError, match="sigma"):
        VEScoreDenoiser(lambda x, s: x)(torch.zeros(1, 2), torch.tensor(-1.0))
    with pytest.raises(ValueError, match="alphas_cumprod"):
        VPEpsDenoiser(lambda x, t: x, torch.tensor([0.5, 0.9]))
