"""Modern ODE/SDE solvers on the denoiser D(x, sigma) in VE coordinates (Karras et al. 2022; Lu et al. 2022).

Conventions (those of k-diffusion's samplers module, so results are comparable with the solvers people run):
- `sigmas` is a decreasing 1-D ladder sigma_0 > ... > sigma_N whose last entry may be 0; there are N steps,
  step i goes from sigma_i to sigma_{i+1}; x enters at sigma_0 (x = sigma_0 N(0, I) for a fresh sample).
- `noise` is an optional tensor [N, *x.shape]: noise[i] ~ N(0, I) is the draw of step i; otherwise `generator`
  is one torch.Generator per image (rwbench.core.rng.image_generators) so that image b never depends on its batch,
  or a single generator for the whole batch. Stochastic steps without either raise ValueError (no global RNG).
- The PF-ODE is dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022, eq. 3 with sigma(t) = t, s(t) = 1).
- `callback` (optional) receives after every step a dict with k and i (the step), x (its input), x_next, sigma
  (sigma_i as a 0-d float64 tensor), sigma_hat (the level D was evaluated at first), sigma_next and denoised.
- Every function returns the final x. The denoiser gets sigma as a 0-d float64 tensor (CONTRIBUTING.md).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from rwbench.core.rng import step_noise
from rwbench.core.schedules import ancestral_step, check_sigmas

F64 = torch.float64
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# the solvers; their denoiser calls per image are the sampler table's NFE rules (rwbench.plan.samplers)
SOLVERS = ("euler", "heun", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde")


# ---------------------------------------------------------------- shared helpers


def _check_noise_source(noise, generator, x: torch.Tensor, steps: int, needed: bool) -> None:
    if noise is not None and tuple(noise.shape) != (steps, *x.shape):
        raise ValueError(f"noise: need shape {(steps, *tuple(x.shape))} (one draw per step), got {tuple(noise.shape)}")
    if isinstance(generator, (list, tuple)) and len(generator) != x.shape[0]:
        raise ValueError(f"generator: need one generator per image ({x.shape[0]}), got {len(generator)}")
    if needed and noise is None and generator is None:
        raise ValueError("noise/generator: this solver adds noise; pass noise [len(sigmas) - 1, *x.shape] or one "
                         "torch.Generator per image (rwbench.core.rng.image_generators)")


def _level(value: float) -> torch.Tensor:
    """A noise level as the 0-d float64 tensor the denoiser protocol expects."""
    return torch.tensor(value, dtype=F64)


def _report(callback, i: int, x, x_next, sigma: float, sigma_hat: float, sigma_next: float, denoised) -> None:
    if callback is not None:
        callback({"k": i, "i": i, "x": x, "x_next": x_next, "sigma": _level(sigma), "sigma_hat": _level(sigma_hat),
                  "sigma_next": _level(sigma_next), "denoised": denoised})


def _churn_gamma(sigma: float, steps: int, s_churn: float, s_tmin: float, s_tmax: float) -> float:
    """Karras et al. 2022, Alg. 2: gamma_i = min(S_churn / N, sqrt(2) - 1) for sigma_i in [S_tmin, S_tmax], else 0."""
    return min(s_churn / steps, math.sqrt(2.0) - 1.0) if s_tmin <= sigma <= s_tmax else 0.0


def _check_churn(s_churn: float, s_noise: float) -> None:
    if not s_churn >= 0:
        raise ValueError(f"s_churn: need s_churn >= 0, got {s_churn}")
    if not s_noise >= 0:
        raise ValueError(f"s_noise: need s_noise >= 0, got {s_noise}")


def _churned_ode_solver(denoiser, x, sigmas, second_order, s_churn, s_tmin, s_tmax, s_noise, noise, generator, callback):
    """Karras et al. 2022, Alg. 2 with Euler (second_order=False) or Heun steps; Alg. 1 when s_churn = 0."""
    sig = check_sigmas(sigmas)
    _check_churn(s_churn, s_noise)
    N = len(sig) - 1
    gammas = [_churn_gamma(sig[i], N, float(s_churn), float(s_tmin), float(s_tmax)) for i in range(N)]
    _check_noise_source(noise, generator, x, N, needed=any(g > 0 for g in gammas) and s_noise > 0)
    for i in range(N):
        sigma, sigma_next = sig[i], sig[i + 1]
        # 1. churn: raise the level to sigma_hat = (1 + gamma) sigma by adding fresh noise of variance
        #    sigma_hat^2 - sigma^2 (Alg. 2, lines 5-6); gamma = 0 leaves x and sigma unchanged (Alg. 1)
        sigma_hat = sigma * (1.0 + gammas[i])
        x_hat = x
        if gammas[i] > 0 and s_noise > 0:
            eps = s_noise * step_noise(noise, i, x, generator)
            x_hat = x + math.sqrt(sigma_hat**2 - sigma**2) * eps
        # 2. Euler step of the PF-ODE from sigma_hat to sigma_next with slope d = (x - D(x, sigma_hat)) / sigma_hat
        denoised = denoiser(x_hat, _level(sigma_hat))
        d = (x_hat - denoised) / sigma_hat
        dt = sigma_next - sigma_hat
        x_next = x_hat + d * dt
        # 3. Heun correction (Alg. 1, lines 6-8): average the slopes at both ends; skipped when sigma_next = 0,
        #    where the slope is undefined and the last step stays an Euler step
        if second_order and sigma_next != 0:
            denoised_next = denoiser(x_next, _level(sigma_next))
            d_next = (x_next - denoised_next) / sigma_next
            x_next = x_hat + (0.5 * (d + d_next)) * dt
        _report(callback, i, x, x_next, sigma, sigma_hat, sigma_next, denoised)
        x = x_next
    return x


# ---------------------------------------------------------------- ODE solvers


def euler(denoiser: Denoiser, x: torch.Tensor, sigmas, *, s_churn: float = 0.0, s_tmin: float = 0.0,
          s_tmax: float = float("inf"), s_noise: float = 1.0, noise=None, generator=None, callback=None) -> torch.Tensor:
    """Euler steps of the PF-ODE x_{i+1} = x_i + (sigma_{i+1} - sigma_i)(x_i - D(x_i, sigma_i))/sigma_i (Karras Alg. 2 churn optional)."""
    return _churned_ode_solver(denoiser, x, sigmas, False, s_churn, s_tmin, s_tmax, s_noise, noise, generator, callback)


def heun(denoiser: Denoiser, x: torch.Tensor, sigmas, *, s_churn: float = 0.0, s_tmin: float = 0.0,
         s_tmax: float = float("inf"), s_noise: float = 1.0, noise=None, generator=None, callback=None) -> torch.Tensor:
    """Heun's 2nd-order PF-ODE solver (Karras et al. 2022, Alg. 1; Alg. 2's churn via s_churn, s_tmin, s_tmax, s_noise).

    Two denoiser calls per step, one in a last step to sigma = 0 (a plain Euler step there).
    """
    return _churned_ode_solver(denoiser, x, sigmas, True, s_churn, s_tmin, s_tmax, s_noise, noise, generator, callback)


def dpmpp_2m(denoiser: Denoiser, x: torch.Tensor, sigmas, *, callback=None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2) in VE coordinates: lambda = -log sigma, data prediction D, multistep."""
    sig = check_sigmas(sigmas)
    N = len(sig) - 1
    old_denoised = None
    h_last = None
    for i in range(N):
        sigma, sigma_next = sig[i], sig[i + 1]
        denoised = denoiser(x, _level(sigma))
        if sigma_next == 0:
            # last step to sigma = 0: the exact solution of the linear part lands on the data prediction (1st order)
            x_next = denoised
        else:
            # 1. step in lambda = -log sigma: h = lambda_{i+1} - lambda_i > 0
            h = math.log(sigma) - math.log(sigma_next)
            # 2. data prediction to integrate: D_i (first step), else the 2nd-order multistep combination
            #    (1 + 1/(2r)) D_i - 1/(2r) D_{i-1} with r = h_{i-1} / h_i (Lu et al. 2022, eq. (9) and Alg. 2)
            if old_denoised is None:
                d_star = denoised
            else:
                r = h_last / h
                d_star = (1.0 + 1.0 / (2.0 * r)) * denoised - (1.0 / (2.0 * r)) * old_denoised
            # 3. exponential integrator of dx/dlambda = D - x (VE): x_{i+1} = (sigma_{i+1}/sigma_i) x_i + (1 - e^{-h}) D*
            x_next = (sigma_next / sigma) * x - math.expm1(-h) * d_star
            h_last = h
        _report(callback, i, x, x_next, sigma, sigma, sigma_next, denoised)
        old_denoised = denoised
        x = x_next
    return x


# ---------------------------------------------------------------- SDE solvers


def euler_ancestral(denoiser: Denoiser, x: torch.Tensor, sigmas, *, eta: float = 1.0, s_noise: float = 1.0, noise=None,
                    generator=None, callback=None) -> torch.Tensor:
    """Euler ancestral: Euler step sigma_i -> sigma_down, then + s_noise sigma_up n_i (no noise when sigma_{i+1} = 0)."""
    sig = check_sigmas(sigmas)
    N = len(sig) - 1
    if not s_noise >= 0:
        raise ValueError(f"s_noise: need s_noise >= 0, got {s_noise}")
    steps = [ancestral_step(sig[i], sig[i + 1], eta) for i in range(N)]
    draws = [sig[i + 1] > 0 and steps[i][1] > 0 and s_noise > 0 for i in range(N)]
    _check_noise_source(noise, generator, x, N, needed=any(draws))
    for i in range(N):
        sigma, sigma_next = sig[i], sig[i + 1]
        sigma_down, sigma_up = steps[i]
        # 1. denoise at the current level and take the PF-ODE slope d = (x - D) / sigma
        denoised = denoiser(x, _level(sigma))
        d = (x - denoised) / sigma
        # 2. deterministic Euler step down to sigma_down <= sigma_{i+1}
        x_next = x + d * (sigma_down - sigma)
        # 3. add fresh noise of std sigma_up to come back up to sigma_{i+1} (sigma_down^2 + sigma_up^2 = sigma_{i+1}^2)
        if draws[i]:
            x_next = x_next + (s_noise * sigma_up) * step_noise(noise, i, x, generator)
        _report(callback, i, x, x_next, sigma, sigma, sigma_next, denoised)
        x = x_next
    return x


def dpmpp_2m_sde(denoiser: Denoiser, x: torch.Tensor, sigmas, *, eta: float = 1.0, s_noise: float = 1.0, noise=None,
                 generator=None, callback=None, solver_type: str = "midpoint") -> torch.Tensor:
    """DPM-Solver++(2M) SDE (Lu et al. 2022, SDE variant; midpoint or heun 2nd-order term); eta = 0 is an ODE solver."""
    sig = check_sigmas(sigmas)
    N = len(sig) - 1
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type: choose 'midpoint' or 'heun', got {solver_type!r}")
    if not eta >= 0:
        raise ValueError(f"eta: need eta >= 0, got {eta}")
    if not s_noise >= 0:
        raise ValueError(f"s_noise: need s_noise >= 0, got {s_noise}")
    draws = [eta > 0 and s_noise > 0 and sig[i + 1] > 0 for i in range(N)]
    _check_noise_source(noise, generator, x, N, needed=any(draws))
    old_denoised = None
    h_last = None
    for i in range(N):
        sigma, sigma_next = sig[i], sig[i + 1]
        denoised = denoiser(x, _level(sigma))
        if sigma_next == 0:
            # last step to sigma = 0: land on the data prediction
            x_next = denoised
        else:
            # 1. step in lambda = -log sigma, h > 0; eta h is the share of the step taken as SDE
            h = math.log(sigma) - math.log(sigma_next)
            eta_h = eta * h
            # 2. first-order part: x <- (sigma_{i+1}/sigma_i) e^{-eta h} x + (1 - e^{-(1+eta) h}) D_i
            one_minus = -math.expm1(-h - eta_h)
            x_next = (sigma_next / sigma) * math.exp(-eta_h) * x + one_minus * denoised
            # 3. second-order multistep correction with the previous data prediction, r = h_{i-1} / h_i
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "midpoint":
                    coef = 0.5 * one_minus / r
                else:  # heun: (1 - (1 - e^{-(1+eta)h}) / ((1+eta)h)) / r
                    coef = (one_minus / (-h - eta_h) + 1.0) / r
                x_next = x_next + coef * (denoised - old_denoised)
            # 4. noise of std sigma_{i+1} sqrt(1 - e^{-2 eta h}) (the exact variance of the linear SDE part)
            if draws[i]:
                x_next = x_next + (sigma_next * math.sqrt(-math.expm1(-2.0 * eta_h)) * s_noise) * step_noise(noise, i, x, generator)
            h_last = h
        _report(callback, i, x, x_next, sigma, sigma, sigma_next, denoised)
        old_denoised = denoised
        x = x_next
    return x


__all__ = ["euler", "heun", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde", "SOLVERS"]
