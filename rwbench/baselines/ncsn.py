"""NCSN annealed Langevin dynamics (Song & Ermon 2019, Alg. 1) on a score network, in the paper's or the released code's convention."""

from __future__ import annotations

import math
from typing import Callable

import torch

from rwbench.progress import Progress
from rwbench.rng import step_noise

F64 = torch.float64

# "paper": Alg. 1, alpha_i = eps sigma_i^2 / sigma_L^2, x <- x + alpha_i/2 s + sqrt(alpha_i) z, x_0 ~ N(0, sigma_1^2 I)
#          (rwbench's start: the largest level's Gaussian);
# "released": ermongroup/ncsn's anneal_Langevin_dynamics, step = step_lr (sigma_i / sigma_L)^2,
#          x <- x + step s + sqrt(2 step) z, i.e. alpha_i = 2 eps sigma_i^2 / sigma_L^2 (twice Alg. 1's at the same
#          eps = step_lr), started from x_0 ~ U[0, 1)^d.
CONVENTIONS = ("paper", "released")


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention: choose 'paper' (Alg. 1) or 'released' (ermongroup/ncsn code), got {convention!r}")


def langevin_step_size(sigma: float, sigma_L: float, eps: float, convention: str = "paper") -> float:
    """alpha_i of x <- x + alpha_i/2 s(x, sigma_i) + sqrt(alpha_i) z: eps sigma_i^2/sigma_L^2 (paper), twice that (released)."""
    _check_convention(convention)
    alpha = eps * sigma**2 / sigma_L**2
    return alpha if convention == "paper" else 2.0 * alpha


def initial_state(z: torch.Tensor, sigma_max: float, convention: str = "paper") -> torch.Tensor:
    """x_0 from a standard normal draw z: sigma_max z (paper) or Phi(z) ~ U(0, 1) entrywise (released code's torch.rand).

    The uniform start is the normal CDF of the same per-image draw, so every sampler of a run still starts from
    image i's own generator.
    """
    _check_convention(convention)
    if convention == "paper":
        return float(sigma_max) * z
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def annealed_langevin(
    score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x_init: torch.Tensor,
    levels,
    n_steps_each: int,
    eps: float,
    *,
    convention: str = "paper",
    noise: torch.Tensor | None = None,
    generators=None,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """For each sigma_i: alpha_i = eps sigma_i^2 / sigma_L^2; n times x <- x + alpha_i/2 s(x, sigma_i) + sqrt(alpha_i) z.

    convention="released" takes the released code's step alpha_i = 2 eps sigma_i^2 / sigma_L^2 (see CONVENTIONS);
    x_init is the caller's (initial_state gives either convention's start from a normal draw).
    """
    _check_convention(convention)
    levels = torch.as_tensor(levels, dtype=F64).cpu().reshape(-1)
    sigma_L = levels[-1].item()
    x = x_init
    k = 0
    bar = Progress(levels.numel() * int(n_steps_each), "ncsn", enabled=progress)
    for sigma in levels.tolist():
        alpha = langevin_step_size(sigma, sigma_L, eps, convention)
        s_vec = torch.full((x.shape[0],), sigma, dtype=F64, device=x.device)
        for _ in range(int(n_steps_each)):
            z = step_noise(noise, k, x, generators)
            x_new = x + (alpha / 2.0) * score_fn(x, s_vec).to(x.dtype) + math.sqrt(alpha) * z
            if callback is not None:
                callback({"k": k, "sigma": sigma, "x": x, "x_next": x_new})
            x = x_new
            k += 1
            bar.update()
    bar.close()
    return x
