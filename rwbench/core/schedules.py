"""Noise ladders sigma_k, the VP time map sigma(t), step rules tau_k, temperature rules T_k and start conventions
(paper.md sections 4 and 6): the one home of schedule math, shared by the walk presets, the native samplers, the
solvers and the model adapters."""

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


def sigma_of_abar(abar):
    """VE noise level of a VP signal level: sigma = sqrt((1 - abar) / abar) (eq. 13); abar = 1 / (1 + sigma^2).

    A Python float gives a float (math.sqrt: scalar callers keep their bits), anything else a float64 tensor."""
    if isinstance(abar, float):
        return math.sqrt((1.0 - abar) / abar)
    abar = torch.as_tensor(abar, dtype=F64)
    return torch.sqrt((1.0 - abar) / abar)


def abar_of_sigma(sigma):
    """VP signal level of a VE noise level: abar = 1 / (1 + sigma^2), the inverse of sigma_of_abar (eq. 13).

    A Python float gives a float, anything else a float64 tensor."""
    if isinstance(sigma, float):
        return 1.0 / (1.0 + sigma * sigma)
    sigma = torch.as_tensor(sigma, dtype=F64)
    return 1.0 / (1.0 + sigma * sigma)


def vp_input_scale(sigma: float) -> float:
    """sqrt(abar(sigma)) = 1 / sqrt(1 + sigma^2): the factor that maps a VE state x to the VP network's input x_t
    (eq. 13). Written as 1 / sqrt(1 + sigma^2), so the VP denoiser's bits are those of its first version."""
    sigma = float(sigma)
    return 1.0 / math.sqrt(1.0 + sigma * sigma)


def vp_sigmas(betas: torch.Tensor) -> torch.Tensor:
    """VE noise levels of DDPM steps: sigma_t = sqrt((1 - abar_t) / abar_t), t = 0..T-1 (eq. 13)."""
    return sigma_of_abar(alphas_cumprod(betas))


def sigma_at(t, levels: torch.Tensor) -> torch.Tensor:
    """sigma(t) at (fractional) DDPM time t: piecewise linear in sigma between the integer levels `levels` =
    vp_sigmas(betas) (increasing in t), t clamped to [0, T-1]. The one map from time to noise level (t_at inverts it):
    the VP adapter, its preconditioning, the pretrained ladder and the eps conversion of native samplers use it."""
    levels = torch.as_tensor(levels, dtype=F64)
    T = levels.numel()
    t = torch.as_tensor(t, dtype=F64).to(levels.device).clamp(0, T - 1)
    lo = t.floor().clamp(max=T - 2).long()
    frac = t - lo
    return levels[lo] * (1 - frac) + levels[lo + 1] * frac


def t_at(sigma, levels: torch.Tensor) -> float:
    """The exact inverse of sigma_at: the DDPM time t in [0, T-1] whose sigma(t) is `sigma` (clamped at the ends)."""
    s = float(sigma)
    levels = torch.as_tensor(levels, dtype=F64).cpu()
    if s <= levels[0]:
        return 0.0
    if s >= levels[-1]:
        return float(levels.numel() - 1)
    hi = int(torch.searchsorted(levels, torch.tensor(s, dtype=F64)).item())
    lo = hi - 1
    return lo + (s - levels[lo].item()) / (levels[hi].item() - levels[lo].item())


def respaced_timesteps(T: int, K: int) -> torch.Tensor:
    """K integer timesteps evenly spaced over 0..T-1 (DDPM respacing; K = T gives all)."""
    if not 1 <= K <= T:
        raise ValueError(f"steps: DDPM-type samplers need 1 <= steps <= {T}, got {K}")
    return torch.linspace(0, T - 1, K, dtype=F64).round().long().unique()


def respaced_betas(betas: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Betas of the respaced chain: 1 - abar[t_i] / abar[t_{i-1}] (abar before the first kept step = 1)."""
    abar = alphas_cumprod(betas)[timesteps]
    prev = torch.cat([torch.ones(1, dtype=F64), abar[:-1]])
    return 1.0 - abar / prev




def vp_pretrained(K: int, betas: torch.Tensor) -> torch.Tensor:
    """The model's own DDPM levels sigma(t), t linearly interpolated from T-1 down to 0 in K points."""
    sig = vp_sigmas(betas)
    T = sig.numel()
    if int(K) != K or K < 1:
        raise ValueError(f"K: need a positive integer number of levels, got {K!r}")
    t = torch.linspace(T - 1, 0, K, dtype=F64) if K > 1 else torch.tensor([T - 1.0], dtype=F64)
    return sigma_at(t, sig)


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


def named_ladder(name: str, K: int, sigma_min: float, sigma_max: float,
                 betas: torch.Tensor | None = None) -> torch.Tensor:
    """sigma_k of a ladder name as the planner resolves it for a model family (rwbench.plan.samplers.resolve_schedule):
    vp_pretrained interpolates the DDPM levels of `betas` (default linear_betas(); the range is ignored), the others
    span [sigma_min, sigma_max]."""
    if name == "vp_pretrained":
        return vp_pretrained(K, linear_betas() if betas is None else betas)
    return ladder(name, K, sigma_min, sigma_max)


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


# ---------------------------------------------------------------- ancestral steps (solvers, DDIM as a walk)


def ancestral_step(sigma_from: float, sigma_to: float, eta: float = 1.0) -> tuple[float, float]:
    """(sigma_down, sigma_up) of an ancestral step sigma_from -> sigma_to: sigma_down^2 + sigma_up^2 = sigma_to^2.

    sigma_up = min(sigma_to, eta sigma_to sqrt(1 - sigma_to^2 / sigma_from^2)): eta = 1 is the exact DDPM posterior
    q(x_to | x_from, x_0) in VE coordinates, eta = 0 the deterministic (DDIM / Euler) step with sigma_down = sigma_to.
    """
    sigma_from, sigma_to, eta = float(sigma_from), float(sigma_to), float(eta)
    if not eta >= 0:
        raise ValueError(f"eta: need eta >= 0, got {eta}")
    if not (sigma_from > 0 and 0 <= sigma_to <= sigma_from):
        raise ValueError(f"sigmas: an ancestral step needs sigma_from > 0 and 0 <= sigma_to <= sigma_from, "
                         f"got {sigma_from:g} -> {sigma_to:g}")
    if eta == 0.0:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * math.sqrt(sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2))
    sigma_down = math.sqrt(sigma_to**2 - sigma_up**2)
    return sigma_down, sigma_up


def check_sigmas(sigmas) -> list[float]:
    """Validate a k-diffusion ladder (1-D, >= 2 entries, finite, non-increasing, only the last may be 0) -> floats."""
    s = torch.as_tensor(sigmas, dtype=F64).detach().cpu()
    if s.ndim != 1 or s.numel() < 2:
        raise ValueError(f"sigmas: need a 1-D ladder with at least 2 entries (N steps = len - 1), got shape {tuple(s.shape)}")
    if not torch.all(torch.isfinite(s)):
        raise ValueError("sigmas: all noise levels must be finite")
    if torch.any(s[:-1] <= 0) or s[-1] < 0:
        raise ValueError(f"sigmas: every level must be > 0 except the last, which may be 0 (got {s.tolist()[:4]}...)")
    if torch.any(s[1:] > s[:-1]):
        k = int(torch.nonzero(s[1:] > s[:-1])[0])
        raise ValueError(f"sigmas: the ladder must not increase (sigma[{k + 1}]={s[k + 1].item():g} > sigma[{k}]={s[k].item():g})")
    return s.tolist()


# ---------------------------------------------------------------- NCSN step and start conventions

# "paper": Alg. 1, alpha_i = eps sigma_i^2 / sigma_L^2, x <- x + alpha_i/2 s + sqrt(alpha_i) z, x_0 ~ N(0, sigma_1^2 I)
#          (rwbench's start: the largest level's Gaussian);
# "released": ermongroup/ncsn's anneal_Langevin_dynamics, step = step_lr (sigma_i / sigma_L)^2,
#          x <- x + step s + sqrt(2 step) z, i.e. alpha_i = 2 eps sigma_i^2 / sigma_L^2 (twice Alg. 1's at the same
#          eps = step_lr), started from x_0 ~ U[0, 1)^d.
CONVENTIONS = ("paper", "released")


def check_convention(convention: str) -> None:
    """The NCSN convention is one of CONVENTIONS."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention: choose 'paper' (Alg. 1) or 'released' (ermongroup/ncsn code), got {convention!r}")


def langevin_step_size(sigma: float, sigma_L: float, eps: float, convention: str = "paper") -> float:
    """alpha_i of x <- x + alpha_i/2 s(x, sigma_i) + sqrt(alpha_i) z: eps sigma_i^2/sigma_L^2 (paper), twice that (released)."""
    check_convention(convention)
    alpha = eps * sigma**2 / sigma_L**2
    return alpha if convention == "paper" else 2.0 * alpha


def ncsn_initial_state(z: torch.Tensor, sigma_max: float, convention: str = "paper") -> torch.Tensor:
    """x_0 from a standard normal draw z: sigma_max z (paper) or Phi(z) ~ U(0, 1) entrywise (released code's torch.rand).

    The uniform start is the normal CDF of the same per-image draw, so every sampler of a run still starts from
    image i's own generator.
    """
    check_convention(convention)
    if convention == "paper":
        return float(sigma_max) * z
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


# ---------------------------------------------------------------- posterior samplers' ladders on DDPM time


def check_ladder(sigmas) -> torch.Tensor:
    """Validate a strictly decreasing ladder of positive noise levels (the final step of every sampler goes to 0)."""
    sigmas = torch.as_tensor(sigmas, dtype=F64).cpu().reshape(-1)
    if sigmas.numel() < 1 or not torch.all(sigmas > 0) or not torch.all(torch.isfinite(sigmas)):
        raise ValueError("sigmas: need at least one finite noise level > 0")
    if sigmas.numel() > 1 and not torch.all(sigmas[1:] < sigmas[:-1]):
        raise ValueError("sigmas: need a strictly decreasing ladder")
    return sigmas


def uniform_timesteps(K: int, T: int = 1000) -> torch.Tensor:
    """DDIM/DDRM skip schedule, decreasing: t = (K-1) s, ..., s, 0 with s = T // K (DDRM runners: range(0, T, skip))."""
    K = int(K)
    if not 1 <= K <= T:
        raise ValueError(f"steps: need 1 <= steps <= {T}, got {K}")
    return (torch.arange(K, dtype=torch.long) * (T // K)).flip(0)


def quad_timesteps(K: int, T: int = 1000) -> torch.Tensor:
    """DiffPIR's 'quad' schedule, decreasing: t_i = int(sqrt(i/(K-1)) T), the last (T) lowered to T - 1."""
    K = int(K)
    if not 2 <= K <= T:
        raise ValueError(f"steps: need 2 <= steps <= {T}, got {K}")
    t = torch.sqrt(torch.linspace(0, float(T) ** 2, K, dtype=F64)).long()
    t[-1] = t[-1] - 1
    return t.flip(0)


def timestep_sigmas(timesteps, betas=None) -> torch.Tensor:
    """VE levels sigma_t = sqrt((1 - abar_t)/abar_t) of integer DDPM timesteps (betas: linear 1e-4..0.02, T = 1000)."""
    betas = linear_betas() if betas is None else torch.as_tensor(betas, dtype=F64)
    return vp_sigmas(betas)[torch.as_tensor(timesteps, dtype=torch.long)]
