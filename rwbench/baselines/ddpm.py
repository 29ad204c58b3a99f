"""DDPM ancestral sampling (Ho et al. 2020, Alg. 2) on an eps-network in VP coordinates."""

from __future__ import annotations

import math
from typing import Callable

import torch

from rwbench.progress import progress as track
from rwbench.core.rng import step_noise

F64 = torch.float64


def ddpm_ancestral(
    eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x_T: torch.Tensor,
    betas: torch.Tensor,
    *,
    variance: str = "beta",
    noise: torch.Tensor | None = None,
    generators=None,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """x_{t-1} = (x_t - beta_t/sqrt(1-abar_t) eps(x_t, t)) / sqrt(alpha_t) + s'_t z, z = 0 at the last step.

    s'^2_t = beta_t (variance="beta") or beta_tilde_t = beta_t (1-abar_{t-1})/(1-abar_t). Step k = T-1-t
    uses noise[k] when `noise` [T, *x.shape] is given, else per-image `generators`.
    """
    betas = torch.as_tensor(betas, dtype=F64).cpu()
    if variance not in ("beta", "beta_tilde"):
        raise ValueError(f"variance: choose 'beta' or 'beta_tilde', got {variance!r}")
    T = betas.numel()
    alphas = 1.0 - betas
    abar = torch.cumprod(alphas, 0)
    x = x_T
    for k, t in enumerate(track(range(T - 1, -1, -1), "ddpm", enabled=progress)):
        t_vec = torch.full((x.shape[0],), float(t), dtype=F64, device=x.device)
        eps = eps_fn(x, t_vec).to(x.dtype)
        beta, alpha, ab = betas[t].item(), alphas[t].item(), abar[t].item()
        mean = (x - (beta / math.sqrt(1.0 - ab)) * eps) / math.sqrt(alpha)
        if t > 0:
            ab_prev = abar[t - 1].item()
            var = beta if variance == "beta" else beta * (1.0 - ab_prev) / (1.0 - ab)
            x_new = mean + math.sqrt(var) * step_noise(noise, k, x, generators)
        else:
            x_new = mean
        if callback is not None:
            callback({"k": k, "t": t, "x": x, "x_next": x_new, "eps": eps})
        x = x_new
    return x
