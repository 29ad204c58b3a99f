"""D7 reference trajectories scored with D1-D5: exact VE forward marginal, homogeneous diffusion, osmosis (scale-space.md).

All three are laid on the sampler's recorded points so that every curve shares its sigma axis:
- forward: x_k = x_ref + sigma_k eps_k (exact samples of p_data * N(0, sigma_k^2 I), fresh eps per point);
- heat: x_k = homogeneous_diffusion(x_ref, t_k) with t_k = sigma_k^2 / 2 (Gaussian scale space: blur of sigma_k pixels);
- osmosis: from the sampler's first recorded iterate towards its final sample as guidance, osmosis time proportional to
  the sampler's iteration, t_k = t_end (step_k - step_0) / (step_last - step_0) with t_end = relax (max(H, W) / pi)^2
  (relax times the slowest Neumann mode's decay time), implicit steps of one factorisation rounded to the nearest
  recorded time; both images share one positive offset.
"""

from __future__ import annotations

import math

import torch

from rwbench.scalespace.filters import homogeneous_diffusion, osmosis

F64 = torch.float64


def _levels(sigmas, name: str = "sigmas") -> list[float]:
    sig = torch.as_tensor(sigmas, dtype=F64).reshape(-1)
    if sig.numel() == 0 or not torch.all(torch.isfinite(sig)) or torch.any(sig < 0):
        raise ValueError(f"{name}: need finite levels >= 0, got {sig.tolist()}")
    return sig.tolist()


def forward_trajectory(reference: torch.Tensor, sigmas, seed: int = 0) -> torch.Tensor:
    """Exact VE forward marginal samples x_ref + sigma_k eps_k, [P, N, C, H, W] (eps from one seeded generator)."""
    ref = reference.to(F64)
    g = torch.Generator().manual_seed(int(seed))
    return torch.stack([ref + s * torch.randn(ref.shape, dtype=F64, generator=g) for s in _levels(sigmas)])


def heat_trajectory(reference: torch.Tensor, sigmas) -> torch.Tensor:
    """Homogeneous diffusion of the reference images at t_k = sigma_k^2 / 2 (exact, DCT), [P, N, C, H, W]."""
    ref = reference.to(F64)
    return torch.stack([homogeneous_diffusion(ref, 0.5 * s * s) for s in _levels(sigmas)])


def osmosis_offset(initial: torch.Tensor, final: torch.Tensor, data_range: tuple[float, float]) -> float:
    """Positive offset c = (hi - lo) - min(initial, final): both shifted images have minimum hi - lo > 0."""
    width = float(data_range[1]) - float(data_range[0])
    if not width > 0:
        raise ValueError(f"data_range: need lo < hi, got {data_range}")
    return width - min(float(initial.min()), float(final.min()))


def osmosis_trajectory(initial: torch.Tensor, final: torch.Tensor, steps, data_range: tuple[float, float],
                       n_steps: int = 50, relax: float = 5.0) -> tuple[torch.Tensor, float]:
    """Implicit osmosis from `initial` towards guidance `final` (both [B, C, H, W], data scale), recorded at osmosis
    times t_end (step_k - step_0) / (step_last - step_0); returns ([P, B, C, H, W] on the data scale, the offset c)."""
    st = torch.as_tensor(steps, dtype=F64).reshape(-1)
    if st.numel() < 2 or torch.any(st[1:] < st[:-1]) or not st[-1] > st[0]:
        raise ValueError(f"steps: need increasing recorded iterations (at least two distinct), got {st.tolist()}")
    if initial.shape != final.shape or initial.dim() != 4:
        raise ValueError(f"initial, final: need equal shapes [B, C, H, W], got {tuple(initial.shape)}, {tuple(final.shape)}")
    if int(n_steps) != n_steps or n_steps < 1 or not relax > 0:
        raise ValueError(f"n_steps, relax: need an integer n_steps >= 1 and relax > 0, got {n_steps}, {relax}")
    t_end = relax * (max(initial.shape[-2:]) / math.pi) ** 2
    marks = torch.round(n_steps * (st - st[0]) / (st[-1] - st[0])).long().tolist()
    c = osmosis_offset(initial, final, data_range)
    path = osmosis(initial.to(F64) + c, final.to(F64) + c, t_end / n_steps, int(n_steps), "implicit", record=marks)
    return path - c, c
