"""NCSN annealed Langevin dynamics (Song & Ermon 2019, Alg. 1) on a score network, in the paper's or the released code's convention."""

from __future__ import annotations

import math
from typing import Callable

import torch

from rwbench.progress import Progress
from rwbench.core.rng import step_noise
from rwbench.core.schedules import check_convention, langevin_step_size

F64 = torch.float64

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
    x_init is the caller's (rwbench.core.schedules.ncsn_initial_state gives either convention's start from a normal draw).
    """
    check_convention(convention)
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
