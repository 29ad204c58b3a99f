"""Denoising diffusion restoration models (DDRM, Kawar et al., NeurIPS 2022) in VE coordinates, in the SVD basis of A.

With A = U diag(s) V^T, xbar = V^T x, ybar = U^T y / s, each spectral component moves from sigma to sigma' as
  s = 0:              xbar' = xbar0 + sqrt(1 - e^2) sigma' (xbar - xbar0)/sigma + e sigma' z
  s sigma' < eta:     xbar' = xbar0 + sqrt(1 - e^2) sigma' s (ybar - xbar0)/eta + e sigma' z
  s sigma' >= eta:    xbar' = (1 - e_b) xbar0 + e_b ybar + sqrt(sigma'^2 - e_b^2 eta^2/s^2) z
with xbar0 = V^T D(x, sigma) (functions/denoising.py, efficient_generalized_steps). Noise units: eta is the measurement
noise std on the model's data scale (the DDRM CLI's --sigma_0 is half of it on [-1, 1]: it doubles sigma_0 internally).
Needs the operator's SVD (LinearOperator.has_svd: inpainting, box, SR, blur here). NFE: one per level.
"""

from __future__ import annotations

import math

import torch

from rwbench.core.schedules import check_ladder, timestep_sigmas, uniform_timesteps
from rwbench.tasks.measure import check_problem
from rwbench.tasks.operators import LinearOperator
from rwbench.core.conditional import check_eta
from rwbench.core.rng import step_noise

F64 = torch.float64

# Published setting (ddrm main.py / README: eta 0.85, eta_b 1; runners: 20 uniformly skipped timesteps 950, ..., 0).
DDRM = {"steps": 20, "ddrm_eta": 0.85, "ddrm_eta_b": 1.0}


def published(task: str, data_range=(-1.0, 1.0), *, image_shape=None, oracle: bool = False,
              steps: int | None = None) -> dict:
    """DDRM's published setting (one for every task, data range and image size) at `steps` levels (None: 20)."""
    return {**DDRM, **({} if steps is None else {"steps": int(steps)})}


def ladder(steps: int = DDRM["steps"], betas=None) -> torch.Tensor:
    """sigma levels of DDRM's uniformly skipped timesteps, decreasing (the sampler ends at 0)."""
    return timestep_sigmas(uniform_timesteps(steps), betas)


def nfe(settings: dict) -> dict:
    """One denoiser evaluation per level, no gradient."""
    steps = int(settings["steps"])
    return {"forward": steps, "backward": 0, "total": steps}


def ddrm(denoiser, x_T: torch.Tensor, y: torch.Tensor, operator: LinearOperator, eta: float, sigmas, *,
         ddrm_eta: float = DDRM["ddrm_eta"], ddrm_eta_b: float = DDRM["ddrm_eta_b"], noise: torch.Tensor | None = None,
         generators=None, callback=None) -> torch.Tensor:
    """DDRM with the three per-component cases of the module doc; x_T ~ N(0, I).

    Initialisation: xbar = ybar + sqrt(sigma_0^2 - eta^2/s^2) z where s sigma_0 > eta, else sigma_0 z (z = x_T in the
    spectral basis). The last step goes to sigma' = 0 and returns V xbar0. Step noise: noise[k] or per-image generators.
    """
    sigmas = check_ladder(sigmas)
    check_problem(x_T, y, operator)
    eta = check_eta(eta)
    if not (0 <= ddrm_eta <= 1 and 0 <= ddrm_eta_b <= 1):
        raise ValueError(f"ddrm_eta, ddrm_eta_b: need values in [0, 1], got {ddrm_eta}, {ddrm_eta_b}")
    K = sigmas.numel()
    y = y.to(x_T.dtype).detach()
    s = operator.singular_values(x_T.shape[1:]).to(x_T).expand_as(x_T)
    observed = s > 0
    s_safe = torch.where(observed, s, torch.ones_like(s))
    sy = operator.Ut(y)                                        # s * ybar in the image layout
    ybar = torch.where(observed, sy / s_safe, torch.zeros_like(sy))
    # initialisation in the spectral basis
    sigma0 = float(sigmas[0])
    z = x_T.detach()
    var0 = (sigma0**2 - (eta / s_safe) ** 2).clamp(min=0)
    xbar = torch.where(observed & (s * sigma0 > eta), ybar + var0.sqrt() * z, sigma0 * z)
    c_det, c_b = math.sqrt(1 - ddrm_eta**2), ddrm_eta_b
    for k in range(K):
        sigma = float(sigmas[k])
        sigma_next = float(sigmas[k + 1]) if k + 1 < K else 0.0
        # 1. one NFE: xbar0 = V^T D(V xbar, sigma)
        x = operator.V(xbar)
        x0 = denoiser(x, torch.tensor(sigma, dtype=F64)).detach()
        xbar0 = operator.Vt(x0)
        if sigma_next > 0:
            z = step_noise(noise, k, xbar, generators)
            # 2. missing components: DDIM-like step towards xbar0
            missing = xbar0 + c_det * sigma_next * (xbar - xbar0) / sigma + ddrm_eta * sigma_next * z
            # 3. observed, noise level below the measurement's ("after"): pull towards ybar by the standardised residual
            after = xbar0 + c_det * sigma_next * (sy - s * xbar0) / eta + ddrm_eta * sigma_next * z
            # 4. observed, noise level above the measurement's ("before"): centred on ybar with the remaining variance
            var_b = (sigma_next**2 - (c_b * eta / s_safe) ** 2).clamp(min=0)
            before = (1 - c_b) * xbar0 + c_b * ybar + var_b.sqrt() * z
            xbar_new = torch.where(~observed, missing, torch.where(s * sigma_next < eta, after, before))
        else:
            xbar_new = xbar0                                    # sigma' = 0: every case reduces to xbar0
        if callback is not None:
            callback({"k": k, "sigma": sigma, "xbar": xbar, "xbar_next": xbar_new, "denoised": x0})
        xbar = xbar_new
    return operator.V(xbar)


def run(denoiser, x_T: torch.Tensor, y: torch.Tensor, operator: LinearOperator, eta: float, settings: dict, *,
        data_range=None, betas=None, generators=None, callback=None) -> torch.Tensor:
    """DDRM at `settings` (published) on the ladder of settings["steps"] skipped timesteps of `betas`."""
    p = dict(settings)
    sigmas = ladder(p.pop("steps"), betas)
    return ddrm(denoiser, x_T, y, operator, eta, sigmas, generators=generators, callback=callback, **p)


__all__ = ["ddrm", "DDRM", "published", "ladder", "nfe", "run"]
