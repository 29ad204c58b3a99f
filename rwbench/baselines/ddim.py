"""DDIM sampling (Song, Meng & Ermon 2021, eq. 12 with sigma_t(eta) of eq. 16) on an eps-network in VP coordinates."""

from __future__ import annotations

import math
from typing import Callable

import torch

from rwbench.progress import progress as track
from rwbench.core.rng import step_noise

F64 = torch.float64


def ddim_sigma(abar: float, abar_prev: float, eta: float) -> float:
    """Eq. 16: sigma_t(eta) = eta sqrt((1 - abar_{t-1}) / (1 - abar_t)) sqrt(1 - abar_t / abar_{t-1})."""
    return eta * math.sqrt((1.0 - abar_prev) / (1.0 - abar)) * math.sqrt(1.0 - abar / abar_prev)


def ddim(
    eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x_T: torch.Tensor,
    betas: torch.Tensor,
    *,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    generators=None,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """x_{t-1} = sqrt(abar_{t-1}) x0(x_t) + sqrt(1 - abar_{t-1} - sigma_t^2) eps(x_t, t) + sigma_t z (DDIM eq. 12).

    `betas` are the chain's (respaced: rwbench.run.runners.respaced_betas) and eps_fn(x, t[B]) takes the chain index t;
    abar_{-1} = 1, so the last step returns the x0-prediction. eta = 0 is deterministic DDIM, eta = 1 the DDPM
    posterior variance beta_tilde. Step k = T-1-t uses noise[k] of `noise` [T, *x.shape] when given, else per-image
    `generators`; no draw is made where sigma_t = 0.
    """
    betas = torch.as_tensor(betas, dtype=F64).cpu().reshape(-1)
    eta = float(eta)
    if not eta >= 0:
        raise ValueError(f"eta: need eta >= 0, got {eta}")
    if betas.numel() < 1 or not torch.all((betas > 0) & (betas < 1)):
        raise ValueError("betas: need a non-empty 1-D tensor with values in (0, 1)")
    T = betas.numel()
    if noise is not None and tuple(noise.shape) != (T, *x_T.shape):
        raise ValueError(f"noise: need shape {(T, *tuple(x_T.shape))} (one draw per step), got {tuple(noise.shape)}")
    abar = torch.cumprod(1.0 - betas, 0).tolist()
    if eta > 0 and noise is None and generators is None:
        raise ValueError("noise/generators: DDIM with eta > 0 adds noise; pass noise [T, *x.shape] or one generator per image")
    x = x_T
    for k, t in enumerate(track(range(T - 1, -1, -1), "ddim", enabled=progress)):
        ab = abar[t]
        ab_prev = abar[t - 1] if t > 0 else 1.0
        # 1. predict the noise and, from it, the clean image x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
        t_vec = torch.full((x.shape[0],), float(t), dtype=F64, device=x.device)
        eps = eps_fn(x, t_vec).to(x.dtype)
        x0 = (x - math.sqrt(1.0 - ab) * eps) / math.sqrt(ab)
        # 2. the step's noise std sigma_t(eta) and the share of eps kept as "direction pointing to x_t"
        s = ddim_sigma(ab, ab_prev, eta) if t > 0 else 0.0
        keep = 1.0 - ab_prev - s * s
        if keep < 0:
            if keep < -1e-12:
                raise ValueError(f"eta: {eta} makes sigma_t exceed sqrt(1 - abar_(t-1)) at t = {t}; use eta <= 1")
            keep = 0.0
        # 3. x_{t-1} = sqrt(abar_{t-1}) x0 + sqrt(1 - abar_{t-1} - sigma_t^2) eps + sigma_t z
        x_new = math.sqrt(ab_prev) * x0 + math.sqrt(keep) * eps
        if s > 0:
            x_new = x_new + s * step_noise(noise, k, x, generators)
        if callback is not None:
            callback({"k": k, "t": t, "x": x, "x_next": x_new, "eps": eps, "x0": x0})
        x = x_new
    return x


__all__ = ["ddim", "ddim_sigma"]
