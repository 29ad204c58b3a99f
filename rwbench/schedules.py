"""Noise ladders sigma_k, step rules tau_k and temperature rules T_k (paper.md sections 4 and 6)."""

from __future__ import annotations

import math

import torch

F64 = torch.float64


def _check_range(K: int, sigma_min: float, sigma_max: float) -> None:
    if int(K) != K or K < 1:
        raise ValueError(f"K: need a positive integer number of levels, got {K!r}")
    if not (sigma_min > 0):
        raise ValueError(f"sigma_min: need sigma_min > 0, got {sigma_min}")
    if not (sigma_max > sigma_min):
        raise ValueError(f"sigma_max: need sigma_max > sigma_min, got sigma_max={sigma_max}, sigma_min={sigma_min}")


def _unit_grid(K: int) -> torch.Tensor:
    """u_k = k / (K - 1) for k = 0..K-1 (u = [0] when K = 1)."""
    if K == 1:
        return torch.zeros(1, dtype=F64)
    return torch.arange(K, dtype=F64) / (K - 1)


def linear_betas(T: int = 1000, beta_min: float = 1e-4, beta_max: float = 0.02) -> torch.Tensor:
    """DDPM's linear beta schedule beta_t = linspace(beta_min, beta_max, T) (Ho et al. 2020)."""
    if T < 2:
        raise ValueError(f"T: need at least 2 diffusion steps, got {T}")
    if not (0 < beta_min < beta_max < 1):
        raise ValueError(f"betas: need 0 < beta_min < beta_max < 1, got {beta_min}, {beta_max}")
    return torch.linspace(beta_min, beta_max, T, dtype=F64)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """abar_t = prod_{s<=t} (1 - beta_s)."""
    betas = torch.as_tensor(betas, dtype=F64)
    if betas.ndim != 1 or not torch.all((betas > 0) & (betas < 1)):
        raise ValueError("betas: need a 1-D tensor with values in (0, 1)")
    return torch.cumprod(1.0 - betas, dim=0)


def vp_sigmas(betas: torch.Tensor) -> torch.Tensor:
    """VE noise levels of DDPM steps: sigma_t = sqrt((1 - abar_t) / abar_t), t = 0..T-1 (eq. 13)."""
    abar = alphas_cumprod(betas)
    return torch.sqrt((1.0 - abar) / abar)


def vp_pretrained(K: int, betas: torch.Tensor) -> torch.Tensor:
    """The model's own DDPM levels sigma(t), t linearly interpolated from T-1 down to 0 in K points."""
    sig = vp_sigmas(betas)
    T = sig.numel()
    if int(K) != K or K < 1:
        raise ValueError(f"K: need a positive integer number of levels, got {K!r}")
    t = torch.linspace(T - 1, 0, K, dtype=F64) if K > 1 else torch.tensor([T - 1.0], dtype=F64)
    lo = t.floor().long().clamp(max=T - 2)
    frac = t - lo
    return sig[lo] * (1 - frac) + sig[lo + 1] * frac


def sigmoid(K: int, sigma_min: float, sigma_max: float, start: float = 0.0, end: float = 3.0, tau: float = 0.3) -> torch.Tensor:
    """Sigmoid ladder of eq. 25 (after Chen 2023): sigma_min + (sigma_max - sigma_min) clip(g(u_k), 1e-9, 1)."""
    _check_range(K, sigma_min, sigma_max)
    if not (end > start) or not (tau > 0):
        raise ValueError(f"sigmoid: need end > start and tau > 0, got start={start}, end={end}, tau={tau}")
    u = _unit_grid(K)
    S = torch.sigmoid
    v_start = S(torch.tensor(start / tau, dtype=F64))
    v_end = S(torch.tensor(end / tau, dtype=F64))
    g = (v_end - S((u * (end - start) + start) / tau)) / (v_end - v_start)
    return sigma_min + (sigma_max - sigma_min) * g.clamp(1e-9, 1.0)


def linear(K: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """sigma_k linear from sigma_max down to sigma_min."""
    _check_range(K, sigma_min, sigma_max)
    return sigma_max + (sigma_min - sigma_max) * _unit_grid(K)


def geometric(K: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """sigma_k = sigma_min (sigma_max / sigma_min)^((K-1-k)/(K-1)) (NCSN / VE-SDE ladder)."""
    _check_range(K, sigma_min, sigma_max)
    u = _unit_grid(K)
    return sigma_min * torch.exp((1.0 - u) * math.log(sigma_max / sigma_min))


def karras(K: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """EDM ladder (Karras et al. 2022): (s_max^(1/rho) + u (s_min^(1/rho) - s_max^(1/rho)))^rho."""
    _check_range(K, sigma_min, sigma_max)
    if not rho > 0:
        raise ValueError(f"rho: need rho > 0, got {rho}")
    u = _unit_grid(K)
    a, b = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    return (a + u * (b - a)) ** rho


LADDERS = {"sigmoid": sigmoid, "linear": linear, "geometric": geometric, "karras": karras}


def ladder(name: str, K: int, sigma_min: float, sigma_max: float, **kwargs) -> torch.Tensor:
    """Build a named ladder (sigmoid | linear | geometric | karras)."""
    if name not in LADDERS:
        raise ValueError(f"schedule: unknown ladder {name!r}; choose one of {', '.join(sorted(LADDERS))} or vp_pretrained")
    return LADDERS[name](K, sigma_min, sigma_max, **kwargs)


def named_ladder(name: str, family: str, K: int, sigma_min: float, sigma_max: float,
                 betas: torch.Tensor | None = None) -> torch.Tensor:
    """sigma_k of a schedule name for a model family (rwbench.samplers.resolve_schedule): vp_pretrained interpolates
    the DDPM levels of `betas` (default linear_betas(); the range is ignored), the others span [sigma_min, sigma_max]."""
    from rwbench.samplers import resolve_schedule

    resolved = resolve_schedule(name, family)
    if resolved == "vp_pretrained":
        return vp_pretrained(K, linear_betas() if betas is None else betas)
    return ladder(resolved, K, sigma_min, sigma_max)


def proportional_steps(sigmas: torch.Tensor, c: float, cap: float | None = None) -> torch.Tensor:
    """Step rule tau_k = c sigma_k^2, optionally capped: tau_k = min(c sigma_k^2, cap) (Sec. V-B, eq. 22)."""
    if not c > 0:
        raise ValueError(f"c: need a positive step factor, got {c}")
    taus = c * torch.as_tensor(sigmas, dtype=F64) ** 2
    if cap is not None:
        if not cap > 0:
            raise ValueError(f"cap: need a positive step cap, got {cap}")
        taus = taus.clamp(max=cap)
    return taus


def linear_temperatures(K: int, T0: float, TK: float = 1.0) -> torch.Tensor:
    """T_k linear from T_0 at k = 0 to exactly T_K at k = K-1 (the paper's temperature rule)."""
    if T0 < 0 or TK < 0:
        raise ValueError(f"temperatures: need T0 >= 0 and TK >= 0, got T0={T0}, TK={TK}")
    u = _unit_grid(K)
    temps = T0 + (TK - T0) * u
    if K >= 1:
        temps[-1] = TK
    return temps


def constant_temperatures(K: int, T: float = 1.0) -> torch.Tensor:
    """T_k = T for all k."""
    if T < 0:
        raise ValueError(f"temperature: need T >= 0, got {T}")
    return torch.full((K,), float(T), dtype=F64)
