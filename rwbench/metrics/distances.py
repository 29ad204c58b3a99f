"""Two-sample distances between point clouds (energy distance, sliced Wasserstein) used by oracle tests and metrics."""

from __future__ import annotations

import torch

F64 = torch.float64
EXACT = "donot_use_mm_for_euclid_dist"  # cdist by differences, not the |x|^2 + |y|^2 - 2 x.y expansion (cancellation)


def pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances |a_i - b_j| [n, m] of rows, computed from differences (exact to rounding)."""
    return torch.cdist(a, b, compute_mode=EXACT)


_dist = pairwise_distances


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
    xy = _dist(x, y).mean()
    xx = _dist(x, x).sum() / (n * (n - 1))
    yy = _dist(y, y).sum() / (m * (m - 1))
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


def energy_parts(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Pieces of the energy distance of samples x [n, ...] to a fixed set y [m, ...]: cross_i = mean_a |x_i - y_a|
    [n], within = |x_i - x_j| [n, n] and yy = mean_{a != b} |y_a - y_b| (U-statistic), all float64."""
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"energy_parts: x has {x.shape[1]} dims, y has {y.shape[1]}")
    return _dist(x, y).mean(dim=1), _dist(x, x), mean_pairwise_distance(y)


def mean_pairwise_distance(y: torch.Tensor) -> float:
    """E|Y - Y'| as the U-statistic mean_{a != b} |y_a - y_b| (rows in blocks of 1024)."""
    y = _as_points(y, "y")
    m = y.shape[0]
    return float(sum(_dist(y[i:i + 1024], y).sum() for i in range(0, m, 1024)) / (m * (m - 1)))


def energy_from_parts(cross: torch.Tensor, within: torch.Tensor, yy: float, counts=None) -> float:
    """Energy distance 2 E|X-Y| - E|X-X'| - E|Y-Y'| from energy_parts, for the sample or a bootstrap multiset given by
    counts [n] (pairs of two copies of one sample are left out of E|X-X'|, a weighted U-statistic; NaN for a
    resample of one distinct sample, where E|X-X'| has no pair)."""
    cross, within = cross.to(F64), within.to(F64)
    c = torch.ones(len(cross), dtype=F64) if counts is None else torch.as_tensor(counts, dtype=F64).reshape(-1)
    total = c.sum()
    pairs = total * total - (c * c).sum()
    if c.shape != cross.shape or not total > 0:
        raise ValueError(f"counts: need {len(cross)} non-negative multiplicities with a positive sum")
    if pairs <= 0:
        return float("nan")
    return float(2 * (c @ cross) / total - (c @ within @ c) / pairs - yy)
