"""Decoupled annealing posterior sampling (DAPS, Zhang et al., CVPR 2025 / arXiv 2407.01521) in VE coordinates.

Per annealing level sigma_i (sampler.py, cores/mcmc.py, cores/scheduler.py):
  1. x0_hat: Euler steps of the probability-flow ODE dx/dsigma = (x - D(x, sigma))/sigma from sigma_i to sigma_ode_min
     on a poly-7 (EDM) grid (ode_steps NFE);
  2. K Langevin steps on p(x0 | x_i, y) ~ N(y; A x0, tau^2 I) N(x0; x0_hat, sigma_i^2 I), from x0 = x0_hat:
     x0 <- x0 + lr_i (A^T (y - A x0)/tau^2 + (x0_hat - x0)/sigma_i^2) + sqrt(2 lr_i) z, lr_i decaying linearly to
     lr * lr_min_ratio;
  3. x_{i+1} = x0 + sigma_{i+1} z (sigma after the last level = 0: the output is x0).
Noise units: tau is the std of the Gaussian likelihood on the model's data scale (the true eta makes the Langevin
target exact). The DAPS repo writes the likelihood gradient as -grad ||A x - y||^2 / tau_repo^2 = 2 A^T (y - A x)/tau_repo^2,
so tau = tau_repo / sqrt(2); it fixes tau_repo = 0.01 on [-1, 1] whatever the true noise. lr has units of x^2.
NFE: annealing_steps x ode_steps (DAPS-1K: 200 x 5); Langevin costs annealing_steps x K operator pairs, no NFE.
"""

from __future__ import annotations

import math

import torch

from rwbench.core import schedules
from rwbench.core.schedules import check_ladder
from rwbench.tasks.measure import check_problem
from rwbench.tasks.operators import LinearOperator
from rwbench.core.conditional import check_eta
from rwbench.core.rng import step_noise

F64 = torch.float64

# DAPS-1K's published settings live in the torch-free rwbench.plan.daps_settings (the sampler table's NFE rule reads them).
from rwbench.plan.daps_settings import DAPS, DAPS_LR  # noqa: E402


def published(task: str, data_range=(-1.0, 1.0), *, image_shape=None, oracle: bool = False,
              steps: int | None = None) -> dict:
    """DAPS-1K for a grid task on a model data range of width w: tau = tau_repo/sqrt(2) (w/2), lr = lr_repo (w/2)^2;
    `steps` annealing levels (None: 200), each ode_steps NFE."""
    if task not in DAPS_LR:
        raise ValueError(f"task: no DAPS setting for {task!r}; choose one of {', '.join(DAPS_LR)}")
    a = (float(data_range[1]) - float(data_range[0])) / 2
    levels = DAPS["annealing_steps"] if steps is None else int(steps)
    return {"annealing_steps": levels, "ode_steps": DAPS["ode_steps"],
            "langevin_steps": DAPS["langevin_steps"], "lr_min_ratio": DAPS["lr_min_ratio"],
            "ode_sigma_min": DAPS["ode_sigma_min"] * a, "tau": DAPS["tau_repo"] / math.sqrt(2) * a,
            "lr": DAPS_LR[task] * a * a, "sigma_max": DAPS["sigma_max"], "sigma_min": DAPS["sigma_min"] * a}


def ladder(annealing_steps: int = DAPS["annealing_steps"], sigma_min: float = DAPS["sigma_min"],
           sigma_max: float = DAPS["sigma_max"]) -> torch.Tensor:
    """Annealing levels: the first annealing_steps of annealing_steps + 1 EDM poly-7 points (the last is replaced by 0)."""
    return schedules.karras(int(annealing_steps) + 1, sigma_min, sigma_max)[:-1]


def nfe(settings: dict) -> dict:
    """annealing_steps x ode_steps denoiser evaluations, no gradient."""
    forward = int(settings["annealing_steps"]) * int(settings["ode_steps"])
    return {"forward": forward, "backward": 0, "total": forward}


def ode_denoise(denoiser, x: torch.Tensor, sigma: float, steps: int, sigma_end: float) -> torch.Tensor:
    """x0_hat by `steps` Euler steps of dx/dsigma = (x - D(x, sigma))/sigma on the poly-7 grid sigma -> sigma_end
    (a single denoiser call when sigma <= sigma_end)."""
    if sigma <= sigma_end:
        return denoiser(x, torch.tensor(sigma, dtype=F64)).detach()
    grid = schedules.karras(int(steps) + 1, sigma_end, sigma)
    for j in range(int(steps)):
        s, s_next = float(grid[j]), float(grid[j + 1])
        d = (x - denoiser(x, torch.tensor(s, dtype=F64)).detach()) / s
        x = x + (s_next - s) * d
    return x


def daps(denoiser, x_T: torch.Tensor, y: torch.Tensor, operator: LinearOperator, eta: float, sigmas, *,
         lr: float, tau: float | None = None, ode_steps: int = DAPS["ode_steps"],
         langevin_steps: int = DAPS["langevin_steps"], lr_min_ratio: float = DAPS["lr_min_ratio"],
         ode_sigma_min: float = DAPS["ode_sigma_min"], noise=None, generators=None, callback=None) -> torch.Tensor:
    """DAPS (module doc); x_T ~ N(0, I) scaled by sigmas[0]; tau=None uses the true eta (exact Langevin target).

    Draws per level from `generators`: langevin_steps Langevin noises, then the re-noising z (if sigma_{i+1} > 0);
    explicit `noise` must hold [levels * (langevin_steps + 1), *x.shape].
    """
    sigmas = check_ladder(sigmas)
    check_problem(x_T, y, operator)
    eta = check_eta(eta)
    tau = eta if tau is None else float(tau)
    if not tau > 0 or not lr > 0 or not 0 < lr_min_ratio <= 1 or int(ode_steps) < 1 or int(langevin_steps) < 0:
        raise ValueError(f"daps: need tau > 0, lr > 0, 0 < lr_min_ratio <= 1, ode_steps >= 1, langevin_steps >= 0; "
                         f"got {tau}, {lr}, {lr_min_ratio}, {ode_steps}, {langevin_steps}")
    N = sigmas.numel()
    y = y.to(x_T.dtype).detach()
    x = float(sigmas[0]) * x_T.detach()
    draw = 0
    for i in range(N):
        sigma = float(sigmas[i])
        sigma_next = float(sigmas[i + 1]) if i + 1 < N else 0.0
        # 1. x0_hat by the probability-flow ODE (ode_steps NFE)
        x0_hat = ode_denoise(denoiser, x, sigma, ode_steps, ode_sigma_min)
        # 2. Langevin on N(y; A x0, tau^2) N(x0; x0_hat, sigma^2) with the linearly decaying step
        lr_i = lr * (1 + (i / N) * (lr_min_ratio - 1))
        x0 = x0_hat
        for _ in range(int(langevin_steps)):
            grad = operator.AT(y - operator.A(x0)) / (tau * tau) + (x0_hat - x0) / (sigma * sigma)
            x0 = x0 + lr_i * grad + math.sqrt(2 * lr_i) * step_noise(noise, draw, x0, generators)
            draw += 1
        # 3. re-noise to the next annealing level
        if sigma_next > 0:
            x_new = x0 + sigma_next * step_noise(noise, draw, x0, generators)
            draw += 1
        else:
            x_new = x0
        if callback is not None:
            callback({"k": i, "sigma": sigma, "x": x, "x_next": x_new, "denoised": x0_hat, "x0_y": x0})
        x = x_new
    return x


def run(denoiser, x_T: torch.Tensor, y: torch.Tensor, operator: LinearOperator, eta: float, settings: dict, *,
        data_range=None, betas=None, generators=None, callback=None) -> torch.Tensor:
    """DAPS at `settings` (published) on its annealing ladder (the DDPM betas are not used)."""
    p = dict(settings)
    sigmas = ladder(p.pop("annealing_steps"), p.pop("sigma_min"), p.pop("sigma_max"))
    return daps(denoiser, x_T, y, operator, eta, sigmas, generators=generators, callback=callback, **p)


__all__ = ["daps", "DAPS", "DAPS_LR", "published", "ladder", "nfe", "run", "ode_denoise"]
