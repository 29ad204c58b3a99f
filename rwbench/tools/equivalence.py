"""`rwbench equivalence`: per-step deviation between template presets and the native samplers (paper.md sec. 4,
docs/solvers.md).

On an exact Gaussian-mixture denoiser, in float64, each pair consumes the same explicit noise n_k and the same
initial draw; the template's iterate x_{k+1} is compared with the native one at every step (DDPM and DDIM in their
own VP coordinates, x_VP = sqrt(abar_{t-1}) x_VE). Deviations per step: max_abs_dev = max |a - b| over all entries,
max_rel_dev = max over images of ||a_i - b_i|| / ||b_i||. Group "table2" holds Table II's rows, group "solvers" the
template's reach beyond it: Euler, Euler-ancestral (k-diffusion, several eta) on a geometric ladder ending at 0,
DDIM (several eta) on a respaced DDPM chain and NCSN in its released code's convention. All are exact identities
(rounding error only) except `vp_sde`, which pairs score-SDE's native VP predictor with the Table II VP row; they
agree only to first order in beta (exact = False), a reference for what a real discretisation difference looks like.
"""

from __future__ import annotations

from typing import Callable

import torch

from rwbench.core import presets, schedules
from rwbench.baselines import solvers
from rwbench.baselines.ddim import ddim
from rwbench.baselines.ddpm import ddpm_ancestral
from rwbench.baselines.ncsn import annealed_langevin
from rwbench.core.schedules import ncsn_initial_state, respaced_betas, respaced_timesteps
from rwbench.baselines.score_sde import ve_predictor, vp_predictor
from rwbench.models.denoisers import GaussianMixtureDenoiser, VEScoreDenoiser, VPEpsDenoiser, eps_from_denoiser
from rwbench.progress import progress as track
from rwbench.core.walk import random_walk

F64 = torch.float64
COLUMNS = ["pair", "group", "k", "sigma", "max_abs_dev", "max_rel_dev", "exact"]
TABLE2_PAIRS = ("ddpm_beta", "ddpm_beta_tilde", "ncsn", "ve_sde", "vp_sde")
# pair -> eta of the template's reach beyond Table II (docs/solvers.md)
EULER_PAIRS = {"euler": 0.0, "euler_ancestral": 1.0, "euler_ancestral_eta0.5": 0.5}
DDIM_PAIRS = {"ddim": 0.0, "ddim_eta0.5": 0.5, "ddim_eta1": 1.0}
SOLVER_PAIRS = (*EULER_PAIRS, *DDIM_PAIRS, "ncsn_released")
PAIRS = TABLE2_PAIRS + SOLVER_PAIRS
NCSN_LEVELS, NCSN_EPS, NCSN_SIGMA = 10, 2e-5, (0.01, 1.0)  # NCSN's CIFAR-10 ladder 1 -> 0.01 and eps (paper.md sec. 4)


def synthetic_mixture(seed: int, components: int = 3, side: int = 4) -> GaussianMixtureDenoiser:
    """A small random Gaussian mixture on 1 x side x side images: weights ~ Dirichlet(1), C_j = A_j A_j^T + 0.05 I."""
    g = torch.Generator().manual_seed(int(seed))
    d = side * side
    weights = -torch.log(torch.rand(components, generator=g, dtype=F64))  # Exp(1) draws normalise to Dirichlet(1)
    means = torch.randn(components, d, generator=g, dtype=F64)
    A = 0.3 * torch.randn(components, d, d, generator=g, dtype=F64)
    covs = A @ A.transpose(1, 2) + 0.05 * torch.eye(d, dtype=F64)
    return GaussianMixtureDenoiser(weights, means, covs, sample_shape=(1, side, side))


def _record(run: Callable[[Callable[[dict], None]], torch.Tensor]) -> torch.Tensor:
    """Run a sampler with a callback and stack its iterates x_{k+1} -> [K, B, ...]."""
    xs: list[torch.Tensor] = []
    run(lambda info: xs.append(info["x_next"].detach().clone()))
    return torch.stack(xs)


def deviations(walk: torch.Tensor, native: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per step: max |a - b| over entries and max over images of ||a_i - b_i|| / ||b_i|| (trajectories [K, B, ...])."""
    if walk.shape != native.shape:
        raise ValueError(f"trajectories: shapes differ, {tuple(walk.shape)} vs {tuple(native.shape)}")
    diff = (walk - native).flatten(2)
    abs_dev = diff.abs().amax(dim=(1, 2))
    rel_dev = (diff.norm(dim=2) / native.flatten(2).norm(dim=2).clamp(min=1e-300)).amax(dim=1)
    return abs_dev, rel_dev


def _ddpm_pair(oracle, steps: int, z0, noise, variance: str):
    betas = schedules.linear_betas(steps)
    abar = schedules.alphas_cumprod(betas)
    eps_fn = eps_from_denoiser(oracle, abar)
    native = _record(lambda cb: ddpm_ancestral(eps_fn, z0, betas, variance=variance, noise=noise, callback=cb))
    p = presets.ddpm(betas, variance)
    den = VPEpsDenoiser(eps_fn, abar)
    walk = _record(lambda cb: random_walk(den, p.init_scale * z0, noise=noise, callback=cb, **p.walk_kwargs()))
    # template iterate k+1 is in VE coordinates of level t-1 (k = T-1-t); x_VP = sqrt(abar_{t-1}) x_VE, abar_{-1} = 1
    abar_prev = torch.cat([torch.ones(1, dtype=F64), abar[:-1]]).flip(0)
    walk = walk * abar_prev.sqrt().reshape(-1, *([1] * (walk.ndim - 1)))
    return walk, native, p.sigmas, True


def _vp_sde_pair(oracle, steps: int, z0, noise):
    betas = schedules.linear_betas(steps)
    abar = schedules.alphas_cumprod(betas)
    eps_fn = eps_from_denoiser(oracle, abar)
    native = _record(lambda cb: vp_predictor(eps_fn, z0, betas, noise=noise, callback=cb))
    p = presets.vp_sde(betas)
    walk = _record(lambda cb: random_walk(VPEpsDenoiser(eps_fn, abar), p.init_scale * z0, noise=noise, callback=cb,
                                          **p.walk_kwargs()))
    abar_prev = torch.cat([torch.ones(1, dtype=F64), abar[:-1]]).flip(0)
    walk = walk * abar_prev.sqrt().reshape(-1, *([1] * (walk.ndim - 1)))
    return walk, native, p.sigmas, False


def _ncsn_pair(oracle, steps: int, z0, noise, convention: str = "paper"):
    n_each = max(1, steps // NCSN_LEVELS)
    levels = schedules.geometric(NCSN_LEVELS, NCSN_SIGMA[0], NCSN_SIGMA[1])
    p = presets.ncsn(levels, n_each, NCSN_EPS, convention=convention)
    x0, noise = p.initial(z0), noise[: p.K]
    native = _record(lambda cb: annealed_langevin(oracle.score, ncsn_initial_state(z0, float(levels[0]), convention), levels,
                                                  n_each, NCSN_EPS, convention=convention, noise=noise, callback=cb))
    walk = _record(lambda cb: random_walk(VEScoreDenoiser(oracle.score), x0, noise=noise, callback=cb, **p.walk_kwargs()))
    return walk, native, p.sigmas, True


def _euler_pair(oracle, steps: int, z0, noise, sigma_max: float, eta: float):
    """k-diffusion's Euler(-ancestral) on a geometric ladder sigma_max -> 0.01 then 0, against presets.euler_ancestral."""
    ladder = torch.cat([schedules.geometric(steps, NCSN_SIGMA[0], sigma_max), torch.zeros(1, dtype=F64)])
    p = presets.euler_ancestral(ladder, eta)
    x0 = p.initial(z0)
    native = _record(lambda cb: solvers.euler_ancestral(oracle, x0, ladder, eta=eta, noise=noise, callback=cb))
    walk = _record(lambda cb: random_walk(oracle, x0, noise=noise, callback=cb, **p.walk_kwargs()))
    return walk, native, p.sigmas, True


def _ddim_pair(oracle, steps: int, z0, noise, eta: float):
    """DDIM(eta) on `steps` respaced steps of the linear T = 1000 chain (T = steps beyond 1000), against presets.ddim."""
    full = schedules.linear_betas(max(1000, steps))
    betas = respaced_betas(full, respaced_timesteps(full.numel(), steps))
    abar = schedules.alphas_cumprod(betas)
    eps_fn = eps_from_denoiser(oracle, abar)
    native = _record(lambda cb: ddim(eps_fn, z0, betas, eta=eta, noise=noise, callback=cb))
    p = presets.ddim(betas, eta)
    walk = _record(lambda cb: random_walk(VPEpsDenoiser(eps_fn, abar), p.initial(z0), noise=noise, callback=cb,
                                          **p.walk_kwargs()))
    abar_prev = torch.cat([torch.ones(1, dtype=F64), abar[:-1]]).flip(0)
    walk = walk * abar_prev.sqrt().reshape(-1, *([1] * (walk.ndim - 1)))
    return walk, native, p.sigmas, True


def _ve_sde_pair(oracle, steps: int, z0, noise, sigma_max: float):
    sigmas = schedules.geometric(steps, NCSN_SIGMA[0], sigma_max)
    p = presets.ve_sde(sigmas)
    x0 = p.init_scale * z0
    native = _record(lambda cb: ve_predictor(oracle.score, x0, sigmas, noise=noise, callback=cb))
    walk = _record(lambda cb: random_walk(VEScoreDenoiser(oracle.score), x0, noise=noise, callback=cb, **p.walk_kwargs()))
    return walk, native, p.sigmas, True


def equivalence_table(oracle: GaussianMixtureDenoiser, steps: int = 1000, batch: int = 4, seed: int = 0,
                      sigma_max: float = 50.0, pairs=PAIRS, progress: bool = True):
    """Tidy per-step deviations (pair, group, k, sigma, max_abs_dev, max_rel_dev, exact) of template vs native samplers."""
    import pandas as pd

    if int(steps) != steps or steps < 2:
        raise ValueError(f"--steps: need an integer >= 2, got {steps!r}")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"--batch: need a positive integer, got {batch!r}")
    unknown = sorted(set(pairs) - set(PAIRS))
    if unknown:
        raise ValueError(f"--pairs: unknown pair(s) {', '.join(unknown)}; choose from {', '.join(PAIRS)}")
    ncsn = [name for name in pairs if name in ("ncsn", "ncsn_released")]
    if ncsn and steps < NCSN_LEVELS:  # NCSN walks NCSN_LEVELS levels x steps // NCSN_LEVELS, at least one each
        raise ValueError(f"--steps {steps}: the {' and '.join(ncsn)} pair(s) need at least {NCSN_LEVELS} steps "
                         f"({NCSN_LEVELS} noise levels x steps/{NCSN_LEVELS}); give --steps >= {NCSN_LEVELS} or leave "
                         f"them out of --pairs")
    shape = (int(batch), *oracle.sample_shape)
    g = torch.Generator().manual_seed(int(seed))
    z0 = torch.randn(shape, generator=g, dtype=F64)  # shared initial draw (scaled by each preset's init_scale)
    noise = torch.randn((int(steps), *shape), generator=g, dtype=F64)  # shared n_k, k = 0..K-1
    runners = {
        "ddpm_beta": lambda: _ddpm_pair(oracle, steps, z0, noise, "beta"),
        "ddpm_beta_tilde": lambda: _ddpm_pair(oracle, steps, z0, noise, "beta_tilde"),
        "ncsn": lambda: _ncsn_pair(oracle, steps, z0, noise),
        "ve_sde": lambda: _ve_sde_pair(oracle, steps, z0, noise, sigma_max),
        "vp_sde": lambda: _vp_sde_pair(oracle, steps, z0, noise),
        "ncsn_released": lambda: _ncsn_pair(oracle, steps, z0, noise, "released"),
        **{name: (lambda eta=eta: _euler_pair(oracle, steps, z0, noise, sigma_max, eta)) for name, eta in EULER_PAIRS.items()},
        **{name: (lambda eta=eta: _ddim_pair(oracle, steps, z0, noise, eta)) for name, eta in DDIM_PAIRS.items()},
    }
    frames = []
    for name in track(list(pairs), "pairs", enabled=progress):
        walk, native, sigmas, exact = runners[name]()
        abs_dev, rel_dev = deviations(walk, native)
        group = "table2" if name in TABLE2_PAIRS else "solvers"
        frames.append(pd.DataFrame({"pair": name, "group": group, "k": range(len(abs_dev)), "sigma": sigmas.numpy(),
                                    "max_abs_dev": abs_dev.numpy(), "max_rel_dev": rel_dev.numpy(), "exact": exact}))
    return pd.concat(frames, ignore_index=True)[COLUMNS]

