"""Pseudoinverse-guided diffusion (Pi-GDM, Song et al., ICLR 2023) in VE coordinates: DDIM steps on the denoised estimate
x0_y = x0_hat + sigma^2 (dx0_hat/dx)^T A^T (r^2 A A^T + eta^2 I)^-1 (y - A x0_hat), r^2 = v sigma^2 / (v + sigma^2).

Noise units: eta is the measurement noise std on the model's data scale (y = A x + eta n), the same eta as
rwbench.core.conditional.conditional_random_walk. v is the per-pixel prior variance behind the adaptive weight r_t^2; the paper
sets r_t^2 = sigma_t^2/(1 + sigma_t^2) for data in [-1, 1] (v = 1); on another range v = ((hi - lo)/2)^2 (data_var).

The guidance enters through Tweedie's formula: with p(x0 | x_t) ~ N(x0_hat, r^2 I) the likelihood score is
g = (dx0_hat/dx)^T A^T (r^2 A A^T + eta^2 I)^-1 (y - A x0_hat), and E[x0 | x_t, y] = x0_hat + sigma^2 g. This is exact for a
prior N(m, v I) (tested). InverseBench adds r^2 g after the DDIM step instead (docs/posterior-samplers.md).
NFE: one denoiser evaluation and one vector-Jacobian product per level (K forward + K backward).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from rwbench.core.schedules import check_ladder, timestep_sigmas, uniform_timesteps
from rwbench.tasks.measure import check_problem
from rwbench.tasks.operators import LinearOperator
from rwbench.core.conditional import check_eta
from rwbench.core.rng import step_noise

F64 = torch.float64

# Published setting (InverseBench configs/algorithm/pigdm.yaml: 100 steps, DDIM eta 0.2; the paper: 100 DDIM steps).
# Our ladder: the VP model's own levels at 100 uniformly skipped timesteps (as DDRM), then 0.
PIGDM = {"steps": 100, "ddim_eta": 0.2}


def published(task: str, data_range: Sequence[float] = (-1.0, 1.0), *, image_shape=None, oracle: bool = False,
              steps: int | None = None) -> dict:
    """Pi-GDM's published setting on a model data range (one for every task and image size): steps (None: 100),
    DDIM eta, data_var = ((hi - lo)/2)^2."""
    lo, hi = (float(v) for v in data_range)
    return {**PIGDM, "data_var": ((hi - lo) / 2) ** 2, **({} if steps is None else {"steps": int(steps)})}


def ladder(steps: int = PIGDM["steps"], betas=None) -> torch.Tensor:
    """sigma levels of `steps` uniformly skipped DDPM timesteps, decreasing (the sampler ends at 0)."""
    return timestep_sigmas(uniform_timesteps(steps), betas)


def nfe(settings: dict) -> dict:
    """Network evaluations: one forward and one backward (VJP) per level."""
    steps = int(settings["steps"])
    return {"forward": steps, "backward": steps, "total": 2 * steps}


def adaptive_variance(sigma: float, data_var: float = 1.0) -> float:
    """r^2 = v sigma^2 / (v + sigma^2), the variance of x0 | x_sigma under a prior N(0, v I) (paper: v = 1)."""
    return data_var * sigma * sigma / (data_var + sigma * sigma)


def pseudoinverse_vector(operator: LinearOperator, residual: torch.Tensor, shape, r2: float, eta: float) -> torch.Tensor:
    """A^T (r^2 A A^T + eta^2 I)^-1 residual via the SVD: V (s / (r^2 s^2 + eta^2)) U^T residual."""
    s = operator.singular_values(shape).to(residual)
    return operator.V(s * operator.Ut(residual) / (r2 * s * s + eta * eta))


def pigdm(denoiser, x_T: torch.Tensor, y: torch.Tensor, operator: LinearOperator, eta: float, sigmas, *,
          ddim_eta: float = PIGDM["ddim_eta"], data_var: float = 1.0, noise: torch.Tensor | None = None,
          generators=None, callback=None) -> torch.Tensor:
    """Pi-GDM: x_{k+1} = x0_y + sqrt(1 - e^2) (sigma_{k+1}/sigma_k)(x_k - x0_y) + e sigma_{k+1} z, x0_y as in the module doc.

    x_T ~ N(0, I) (scaled by sigmas[0] here); the last step goes to sigma = 0 and returns x0_y. Step noise: noise[k] or
    per-image `generators` (rwbench.core.rng.step_noise), drawn only for steps with sigma_{k+1} > 0.
    """
    sigmas = check_ladder(sigmas)
    check_problem(x_T, y, operator)
    eta = check_eta(eta)
    if not 0 <= ddim_eta <= 1:
        raise ValueError(f"ddim_eta: need 0 <= ddim_eta <= 1, got {ddim_eta}")
    if not data_var > 0:
        raise ValueError(f"data_var: need a positive prior variance, got {data_var}")
    K = sigmas.numel()
    y = y.to(x_T.dtype).detach()
    x = float(sigmas[0]) * x_T.detach()
    for k in range(K):
        sigma = float(sigmas[k])
        sigma_next = float(sigmas[k + 1]) if k + 1 < K else 0.0
        r2 = adaptive_variance(sigma, data_var)
        # 1. one NFE with autograd: x0_hat = D(x, sigma)
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            x0 = denoiser(x_in, torch.tensor(sigma, dtype=F64))
            # 2. v = A^T (r^2 A A^T + eta^2 I)^-1 (y - A x0_hat), then g = (dx0_hat/dx)^T v (one VJP; images independent)
            v = pseudoinverse_vector(operator, y - operator.A(x0.detach()), x.shape[1:], r2, eta)
            g = torch.autograd.grad(x0, x_in, grad_outputs=v)[0]
        # 3. conditional denoised estimate by Tweedie's formula with the guided score
        x0y = x0.detach() + (sigma * sigma) * g
        # 4. DDIM step from sigma to sigma_next
        if sigma_next > 0:
            x_new = x0y + math.sqrt(1 - ddim_eta**2) * (sigma_next / sigma) * (x - x0y)
            if ddim_eta > 0:
                x_new = x_new + ddim_eta * sigma_next * step_noise(noise, k, x, generators)
        else:
            x_new = x0y
        if callback is not None:
            callback({"k": k, "sigma": sigma, "x": x, "x_next": x_new, "denoised": x0.detach(), "x0_y": x0y})
        x = x_new.detach()
    return x


def run(denoiser, x_T: torch.Tensor, y: torch.Tensor, operator: LinearOperator, eta: float, settings: dict, *,
        data_range=None, betas=None, generators=None, callback=None) -> torch.Tensor:
    """Pi-GDM at `settings` (published) on the ladder of settings["steps"] skipped timesteps of `betas`."""
    p = dict(settings)
    sigmas = ladder(p.pop("steps"), betas)
    return pigdm(denoiser, x_T, y, operator, eta, sigmas, generators=generators, callback=callback, **p)


__all__ = ["pigdm", "PIGDM", "published", "ladder", "nfe", "run", "adaptive_variance", "pseudoinverse_vector"]
