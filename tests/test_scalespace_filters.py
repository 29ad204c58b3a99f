import math

import numpy as np
import pytest
import torch

from rwbench.scalespace import homogeneous_diffusion, osmosis, osmosis_stability_bound, relative_entropy
from rwbench.scalespace.baselines import forward_trajectory, heat_trajectory, osmosis_trajectory
from rwbench.scalespace.filters import osmosis_matrix

F64 = torch.float64


def _pair(B=2, C=2, H=7, W=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    f = 0.2 + torch.rand(B, C, H, W, generator=g, dtype=F64)
    v = 0.1 + torch.rand(B, C, H, W, generator=g, dtype=F64) ** 2
    return f, v


def test_osmosis_matrix_conserves_mass_and_has_v_in_its_kernel():
    _, v = _pair(B=1, C=3)
    A = osmosis_matrix(v.reshape(3, 7, 6).numpy())
    assert np.abs(np.asarray(A.sum(axis=0))).max() < 1e-13          # column sums zero: mean grey value kept
    assert np.abs(A @ v.reshape(-1).numpy()).max() < 1e-13           # A v = 0: v is a steady state
    off = A.copy()
    off.setdiag(0)
    assert off.min() >= 0                                            # |d| < 2/h: positive off-diagonals (M-matrix)


@pytest.mark.parametrize("scheme,tau", [("implicit", 2.0), ("explicit", None)])
def test_osmosis_preserves_mean_positivity_and_decreases_relative_entropy(scheme, tau):
    f, v = _pair()
    tau = tau or osmosis_stability_bound(v)
    path = osmosis(f, v, tau, 30, scheme, record=list(range(31)))
    means = path.mean(dim=(-1, -2))
    assert (means - f.mean(dim=(-1, -2))).abs().max() < 1e-10
    assert path.min() > 0
    rel = torch.stack([relative_entropy(u, v) for u in path])        # [steps + 1, B, C]
    assert torch.all(rel[1:] - rel[:-1] <= 1e-12)
    assert torch.all(rel[-1] < rel[0])


def test_osmosis_converges_to_rescaled_guidance():
    f, v = _pair(seed=3)
    steady = f.mean(dim=(-1, -2), keepdim=True) / v.mean(dim=(-1, -2), keepdim=True) * v
    u = osmosis(f, v, 100.0, 100, "implicit")
    assert (u - steady).abs().max() < 1e-9
    u_exp = osmosis(f[:1, :1], v[:1, :1], osmosis_stability_bound(v[:1, :1]), 3000, "explicit")
    assert (u_exp - steady[:1, :1]).abs().max() < 1e-6


def test_explicit_scheme_refuses_steps_above_its_bound():
    f, v = _pair()
    bound = osmosis_stability_bound(v)
    with pytest.raises(ValueError, match="stability bound tau <= "):
        osmosis(f, v, 1.01 * bound, 3, "explicit")
    flat = torch.ones(1, 1, 5, 5, dtype=F64)
    assert osmosis_stability_bound(flat) == pytest.approx(0.25)      # d = 0: the classic 1/4 in 2-D (h = 1)
    assert osmosis_stability_bound(flat, h=0.5) == pytest.approx(0.0625)


def test_osmosis_rejects_bad_input():
    f, v = _pair()
    with pytest.raises(ValueError, match="positive"):
        osmosis(f - 1.0, v, 0.1, 1)
    with pytest.raises(ValueError, match="scheme"):
        osmosis(f, v, 0.1, 1, "crank-nicolson")
    with pytest.raises(ValueError, match="tau"):
        osmosis(f, v, 0.0, 1)
    with pytest.raises(ValueError, match="shape"):
        osmosis(f, v[:, :1], 0.1, 1)


def test_zero_drift_osmosis_is_homogeneous_diffusion():
    """v constant (d = 0): implicit Euler converges to the exact discrete heat flow with first order in tau."""
    f, _ = _pair(B=1, C=1, H=8, W=8)
    v = torch.full_like(f, 2.0)
    t = 1.5
    exact = homogeneous_diffusion(f, t, spectrum="discrete")
    errs = [float((osmosis(f, v, t / n, n) - exact).abs().max()) for n in (20, 40, 80)]
    assert errs[2] < 2e-3
    assert 1.8 < errs[0] / errs[1] < 2.2 and 1.8 < errs[1] / errs[2] < 2.2
    n = 200                                                          # explicit finite differences, small steps
    assert (osmosis(f, v, t / n, n, "explicit") - exact).abs().max() < 2e-3


def test_dct_heat_kernel_is_the_limit_of_the_finite_difference_heat_equation():
    """Continuous-spectrum DCT heat kernel vs the 5-point scheme on refined grids of a smooth image: second order in h."""
    t, errs = 0.01, []
    for N in (8, 16, 32):
        h = 1.0 / N
        x = (torch.arange(N, dtype=F64) + 0.5) * h
        f = 2.0 + torch.cos(math.pi * x)[:, None] * torch.cos(2 * math.pi * x)[None, :] + x[:, None] ** 2 * (1 - x[None, :])
        f = f[None, None]
        dct_heat = homogeneous_diffusion(f, t, spectrum="continuous", h=h)
        steps = 400
        fd_heat = osmosis(f, torch.ones_like(f), t / steps, steps, "explicit", h=h)      # d = 0 explicit FD steps
        errs.append(float((dct_heat - fd_heat).abs().max()))
    assert errs[-1] < 1e-3
    assert errs[0] / errs[1] > 3.0 and errs[1] / errs[2] > 3.0


def test_homogeneous_diffusion_properties():
    f, _ = _pair()
    assert torch.allclose(homogeneous_diffusion(f, 0.0), f, atol=1e-13)
    u = homogeneous_diffusion(homogeneous_diffusion(f, 0.4), 1.1)
    assert torch.allclose(u, homogeneous_diffusion(f, 1.5), atol=1e-13)
    assert torch.allclose(homogeneous_diffusion(f, 3.0).mean((-1, -2)), f.mean((-1, -2)), atol=1e-13)
    far = homogeneous_diffusion(f, 1e4)
    assert torch.allclose(far, f.mean((-1, -2), keepdim=True).expand_as(f), atol=1e-10)
    with pytest.raises(ValueError, match="t"):
        homogeneous_diffusion(f, -1.0)


def test_d7_osmosis_trajectory_keeps_the_mean_of_the_initial_noise():
    g = torch.Generator().manual_seed(5)
    x_init = 3.0 * torch.randn(4, 1, 6, 6, generator=g, dtype=F64)
    x_final = torch.rand(4, 1, 6, 6, generator=g, dtype=F64)
    path, c = osmosis_trajectory(x_init, x_final, [0, 5, 10, 20], (0.0, 1.0), n_steps=40, relax=20.0)
    assert path.shape == (4, 4, 1, 6, 6)
    assert torch.allclose(path[0], x_init, atol=1e-13)
    assert (path.mean((-1, -2)) - x_init.mean((-1, -2))).abs().max() < 1e-10
    assert (path + c).min() > 0
    steady = (x_init.mean((-1, -2), keepdim=True) + c) / (x_final.mean((-1, -2), keepdim=True) + c) * (x_final + c) - c
    assert (path[-1] - steady).abs().max() < 1e-6


def test_d7_forward_and_heat_trajectories_start_at_the_reference():
    ref = torch.rand(5, 1, 4, 4, dtype=F64)
    sig = torch.tensor([2.0, 0.5, 0.0], dtype=F64)
    fwd = forward_trajectory(ref, sig, seed=1)
    assert torch.equal(fwd[-1], ref) and not torch.allclose(fwd[0], ref)
    assert torch.equal(forward_trajectory(ref, sig, seed=1), fwd)
    heat = heat_trajectory(ref, sig)
    assert torch.allclose(heat[-1], ref, atol=1e-13)
    assert torch.allclose(heat[0], homogeneous_diffusion(ref, 2.0), atol=1e-13)
    with pytest.raises(ValueError, match="sigmas"):
        heat_trajectory(ref, [-1.0])


def test_d7_osmosis_clock_starts_at_the_first_recorded_iteration():
    g = torch.Generator().manual_seed(6)
    x_init, x_final = torch.randn(2, 1, 5, 5, generator=g, dtype=F64), torch.rand(2, 1, 5, 5, generator=g, dtype=F64)
    late, _ = osmosis_trajectory(x_init, x_final, [10, 20, 30], (0.0, 1.0), n_steps=20)
    early, _ = osmosis_trajectory(x_init, x_final, [0, 10, 20], (0.0, 1.0), n_steps=20)
    assert torch.allclose(late[0], x_init, atol=1e-13) and torch.allclose(late, early, atol=1e-12)
    with pytest.raises(ValueError, match="steps"):
        osmosis_trajectory(x_init, x_final, [3, 3], (0.0, 1.0))
