"""score-SDE predictor-corrector sampling (Song et al. 2021): reverse-diffusion predictor for VE and VP, Langevin corrector."""

from __future__ import annotations

import math
from typing import Callable

import torch

from rwbench.progress import progress as track
from rwbench.core.rng import step_noise

F64 = torch.float64


def langevin_corrector(score_fn, x: torch.Tensor, cond: torch.Tensor, snr: float, z: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """One Langevin corrector step: eps = 2 alpha (snr ||z|| / ||s||)^2, x <- x + eps s + sqrt(2 eps) z.

    Norms are per image (score-SDE averages them over the batch, which couples images; rwbench does not).
    """
    grad = score_fn(x, cond).to(x.dtype)
    g_norm = grad.reshape(x.shape[0], -1).norm(dim=1)
    z_norm = z.reshape(x.shape[0], -1).norm(dim=1)
    step = 2.0 * alpha * (snr * z_norm / g_norm) ** 2
    step = step.reshape(-1, *([1] * (x.ndim - 1)))
    return x + step * grad + torch.sqrt(2.0 * step) * z


def ve_predictor(
    score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x_init: torch.Tensor,
    sigmas,
    *,
    noise: torch.Tensor | None = None,
    generators=None,
    corrector_snr: float | None = None,
    corrector_noise: torch.Tensor | None = None,
    noise_removal: bool = True,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """VE reverse diffusion: x <- x + (s_i^2 - s_{i+1}^2) score(x, s_i) + sqrt(s_i^2 - s_{i+1}^2) z, s_N = 0.

    With `corrector_snr`, a Langevin corrector step precedes each predictor step (score-SDE's PC
    sampler, snr 0.075 for FFHQ). `noise_removal` returns the last predictor mean (no final noise).
    """
    sigmas = torch.as_tensor(sigmas, dtype=F64).cpu().reshape(-1).tolist()
    x = x_init
    N = len(sigmas)
    for i in track(range(N), "ve-sde", enabled=progress):
        sigma = sigmas[i]
        nxt = sigmas[i + 1] if i + 1 < N else 0.0
        s_vec = torch.full((x.shape[0],), sigma, dtype=F64, device=x.device)
        if corrector_snr is not None:
            zc = step_noise(corrector_noise, i, x, generators)
            x = langevin_corrector(score_fn, x, s_vec, corrector_snr, zc)
        diff = sigma**2 - nxt**2
        x_mean = x + diff * score_fn(x, s_vec).to(x.dtype)
        last = i == N - 1
        x_new = x_mean if (last and noise_removal) else x_mean + math.sqrt(diff) * step_noise(noise, i, x, generators)
        if callback is not None:
            callback({"k": i, "sigma": sigma, "x": x, "x_next": x_new})
        x = x_new
    return x


def vp_predictor(
    eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x_T: torch.Tensor,
    betas,
    *,
    noise: torch.Tensor | None = None,
    generators=None,
    corrector_snr: float | None = None,
    corrector_noise: torch.Tensor | None = None,
    noise_removal: bool = True,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """VP reverse diffusion: x <- (2 - sqrt(1 - b_t)) x + b_t score(x, t) + sqrt(b_t) z, score = -eps / sqrt(1 - abar_t).

    Uses the discrete betas b_t of the VP SDE (score-SDE's VPSDE.discretize); t runs from T-1 to 0.
    """
    betas = torch.as_tensor(betas, dtype=F64).cpu().reshape(-1)
    abar = torch.cumprod(1.0 - betas, 0)
    T = betas.numel()

    def score_fn(x, t_vec):
        t = int(round(float(t_vec[0])))
        return -eps_fn(x, t_vec).to(x.dtype) / math.sqrt(1.0 - abar[t].item())

    x = x_T
    for k, t in enumerate(track(range(T - 1, -1, -1), "vp-sde", enabled=progress)):
        b = betas[t].item()
        t_vec = torch.full((x.shape[0],), float(t), dtype=F64, device=x.device)
        if corrector_snr is not None:
            zc = step_noise(corrector_noise, k, x, generators)
            x = langevin_corrector(score_fn, x, t_vec, corrector_snr, zc, alpha=1.0 - b)
        x_mean = (2.0 - math.sqrt(1.0 - b)) * x + b * score_fn(x, t_vec)
        last = k == T - 1
        x_new = x_mean if (last and noise_removal) else x_mean + math.sqrt(b) * step_noise(noise, k, x, generators)
        if callback is not None:
            callback({"k": k, "t": t, "x": x, "x_next": x_new})
        x = x_new
    return x
