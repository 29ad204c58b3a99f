"""Iterative alpha-(de)blending deterministic sampler (Heitz et al. 2023, Alg. 2)."""

from __future__ import annotations

from typing import Callable

import torch

from rwbench.progress import progress as track

F64 = torch.float64


def iadb_alphas(steps: int) -> torch.Tensor:
    """Uniform blending levels a_t = t / steps, t = 0..steps."""
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps: need a positive integer number of IADB steps, got {steps!r}")
    return torch.linspace(0.0, 1.0, int(steps) + 1, dtype=F64)


def iadb_sample(
    blend_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    steps: int,
    *,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """x_{a_{t+1}} = x_{a_t} + (a_{t+1} - a_t) D(x_{a_t}, a_t), from a = 0 (noise x0) to a = 1 (sample)."""
    alphas = iadb_alphas(steps).tolist()
    x = x0
    for t in track(range(int(steps)), "iadb", enabled=progress):
        a = torch.full((x.shape[0],), alphas[t], dtype=F64, device=x.device)
        x_new = x + (alphas[t + 1] - alphas[t]) * blend_fn(x, a).to(x.dtype)
        if callback is not None:
            callback({"k": t, "alpha": alphas[t], "x": x, "x_next": x_new})
        x = x_new
    return x
