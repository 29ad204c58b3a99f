"""Denoising diffusion models for plug-and-play image restoration (DiffPIR, Zhu et al., CVPRW 2023) in VE coordinates.

Per level sigma -> sigma' (main_ddpir_*.py; paper Alg. 1):
  x0 = D(x, sigma);  x0_hat = argmin_u ||y - A u||^2 + rho ||u - x0||^2,  rho = lambda eta^2 / sigma^2;
  x' = x0_hat + sigma' (sqrt(zeta) z + sqrt(1 - zeta) (x - x0_hat)/sigma).
The prox is solved in closed form in the SVD basis of A (exact for the mask, SR and blur operators here).
Noise units: eta and sigma both on the model's data scale. The DiffPIR scripts put sigma_n on [0, 1] and sigma on
[-1, 1] into rho, so their lambda equals 4 x ours (REPO_LAMBDA_FACTOR). NFE: one per level, no gradient.
"""

from __future__ import annotations

import math

import torch

from rwbench.core.schedules import check_ladder, quad_timesteps, timestep_sigmas
from rwbench.tasks.measure import check_problem
from rwbench.tasks.operators import LinearOperator
from rwbench.core.conditional import check_eta
from rwbench.core.rng import step_noise

F64 = torch.float64

# lambda_repo / lambda_ours: rho_repo = lambda_repo (eta/2)^2 / sigma^2 for eta and sigma on [-1, 1].
REPO_LAMBDA_FACTOR = 4.0
# Published settings as the scripts run them (lambda in the repo's units; steps = NFE; 'quad' timesteps):
# deblur: main_ddpir_deblur.py lambda 7, zeta 0.3, 100 steps; SR: main_ddpir_sisr.py zeta 0.25, 100 steps, lambda swept
# over 2..12 (no single published value: we take 7, the deblur value); inpainting: lambda 1, zeta 1, 20 steps
# (noiseless in the repo; here with the task's eta). Box inpainting uses the inpainting setting.
DIFFPIR_REPO = {"deblur": {"lam": 7.0, "zeta": 0.3, "steps": 100},
                "sr": {"lam": 7.0, "zeta": 0.25, "steps": 100},
                "inpaint": {"lam": 1.0, "zeta": 1.0, "steps": 20},
                "box": {"lam": 1.0, "zeta": 1.0, "steps": 20}}


def published(task: str, data_range=(-1.0, 1.0), *, image_shape=None, oracle: bool = False,
              steps: int | None = None) -> dict:
    """DiffPIR's published setting for a grid task, lambda converted to consistent units (lambda_repo / 4), at `steps`
    levels (None: the script's)."""
    if task not in DIFFPIR_REPO:
        raise ValueError(f"task: no DiffPIR setting for {task!r}; choose one of {', '.join(DIFFPIR_REPO)}")
    p = dict(DIFFPIR_REPO[task])
    p["lam"] = p["lam"] / REPO_LAMBDA_FACTOR
    if steps is not None:
        p["steps"] = int(steps)
    return p


def ladder(steps: int, betas=None) -> torch.Tensor:
    """sigma levels of DiffPIR's 'quad' timesteps, decreasing (the sampler ends at 0)."""
    return timestep_sigmas(quad_timesteps(steps), betas)


def nfe(settings: dict) -> dict:
    """One denoiser evaluation per level, no gradient."""
    steps = int(settings["steps"])
    return {"forward": steps, "backward": 0, "total": steps}


def data_prox(operator: LinearOperator, y: torch.Tensor, x0: torch.Tensor, rho: float) -> torch.Tensor:
    """argmin_u ||y - A u||^2 + rho ||u - x0||^2 = V ((s U^T y + rho V^T x0) / (s^2 + rho)) (normal equations in the SVD basis)."""
    if not rho > 0:
        raise ValueError(f"rho: need a positive prox weight, got {rho}")
    s = operator.singular_values(x0.shape[1:]).to(x0)
    return operator.V((s * operator.Ut(y) + rho * operator.Vt(x0)) / (s * s + rho))


def diffpir(denoiser, x_T: torch.Tensor, y: torch.Tensor, operator: LinearOperator, eta: float, sigmas, *,
            lam: float, zeta: float, noise: torch.Tensor | None = None, generators=None, callback=None) -> torch.Tensor:
    """DiffPIR (module doc); x_T ~ N(0, I) scaled by sigmas[0]; the last step goes to 0 and returns x0_hat."""
    sigmas = check_ladder(sigmas)
    check_problem(x_T, y, operator)
    eta = check_eta(eta)
    if not lam > 0:
        raise ValueError(f"lam: need a positive lambda, got {lam}")
    if not 0 <= zeta <= 1:
        raise ValueError(f"zeta: need 0 <= zeta <= 1, got {zeta}")
    K = sigmas.numel()
    y = y.to(x_T.dtype).detach()
    x = float(sigmas[0]) * x_T.detach()
    for k in range(K):
        sigma = float(sigmas[k])
        sigma_next = float(sigmas[k + 1]) if k + 1 < K else 0.0
        # 1. one NFE: the prior's denoised estimate
        x0 = denoiser(x, torch.tensor(sigma, dtype=F64)).detach()
        # 2. data step: closed-form prox with rho = lambda eta^2 / sigma^2
        x0_hat = data_prox(operator, y, x0, lam * eta * eta / (sigma * sigma))
        # 3. re-noise to sigma_next: a zeta share of fresh noise, the rest the effective noise (x - x0_hat)/sigma
        if sigma_next > 0:
            eps = (x - x0_hat) / sigma
            z = step_noise(noise, k, x, generators) if zeta > 0 else torch.zeros_like(x)
            x_new = x0_hat + sigma_next * (math.sqrt(zeta) * z + math.sqrt(1 - zeta) * eps)
        else:
            x_new = x0_hat
        if callback is not None:
            callback({"k": k, "sigma": sigma, "x": x, "x_next": x_new, "denoised": x0, "x0_hat": x0_hat})
        x = x_new
    return x


def run(denoiser, x_T: torch.Tensor, y: torch.Tensor, operator: LinearOperator, eta: float, settings: dict, *,
        data_range=None, betas=None, generators=None, callback=None) -> torch.Tensor:
    """DiffPIR at `settings` (published) on the ladder of settings["steps"] 'quad' timesteps of `betas`."""
    p = dict(settings)
    sigmas = ladder(p.pop("steps"), betas)
    return diffpir(denoiser, x_T, y, operator, eta, sigmas, generators=generators, callback=callback, **p)


__all__ = ["diffpir", "data_prox", "published", "ladder", "nfe", "run", "DIFFPIR_REPO", "REPO_LAMBDA_FACTOR"]
