"""Two-sample distances between point clouds (energy distance, sliced Wasserstein) used by oracle tests and metrics."""

from __future__ import annotations

import torch

F64 = torch.float64


def _as_points(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 samples as a tensor [N, ...], got shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1).to(F64)


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Squared energy distance 2 E|X-Y| - E|X-X'| - E|Y-Y'| with U-statistics for the within terms (Szekely)."""
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"energy_distance: x has {x.shape[1]} dims, y has {y.shape[1]}")
    n, m = x.shape[0], y.shape[0]
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).sum() / (n * (n - 1))
    yy = torch.cdist(y, y).sum() / (m * (m - 1))
    return float(2 * xy - xx - yy)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_projections: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance: sqrt of the mean over random directions of W2^2 of the 1-D projections."""
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"sliced_wasserstein: x has {x.shape[1]} dims, y has {y.shape[1]}")
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(x.shape[1], n_projections, generator=g, dtype=F64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ dirs, dim=0)
    py, _ = torch.sort(y @ dirs, dim=0)
    if px.shape[0] != py.shape[0]:
        q = torch.linspace(0, 1, max(px.shape[0], py.shape[0]), dtype=F64)
        px, py = _quantiles(px, q), _quantiles(py, q)
    return float(((px - py) ** 2).mean().sqrt())


def _quantiles(sorted_proj: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    n = sorted_proj.shape[0]
    pos = q * (n - 1)
    lo = pos.floor().long().clamp(max=n - 2)
    frac = (pos - lo)[:, None]
    return sorted_proj[lo] * (1 - frac) + sorted_proj[lo + 1] * frac
