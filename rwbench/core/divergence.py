"""When a sample counts as diverged: the one threshold every stage uses (sample, evaluate, scalespace, figures).

An image diverged when any value is non-finite, or lies more than DIVERGENCE_FACTOR data-range widths outside the
model's data range [lo, hi] (plus the same factor times the noise level for a noisy iterate of a trajectory):

    diverged  <=>  not finite  or  x < lo - F (w + sigma)  or  x > hi + F (w + sigma),   w = hi - lo, F = 10.

A sampler's output stays within a fraction of w of [lo, hi] (its last noise level is ~1e-2 w), and a noisy iterate
within a few sigma of the data, so F = 10 never flags a working walk; a walk that blows up (c = 30 reaches |x| ~ 1e21
without overflowing to inf) is flagged long before float32 overflows.
"""

from __future__ import annotations

import torch

DIVERGENCE_FACTOR = 10.0


def diverged(x: torch.Tensor, data_range=(0.0, 1.0), sigma: float = 0.0, factor: float = DIVERGENCE_FACTOR) -> torch.Tensor:
    """bool [N]: image n of x [N, ...] is non-finite or beyond lo - F (w + sigma) .. hi + F (w + sigma) anywhere."""
    lo, hi = float(data_range[0]), float(data_range[1])
    margin = factor * ((hi - lo) + float(sigma))
    if x.numel() == 0:
        return torch.zeros(len(x), dtype=torch.bool, device=x.device)
    flat = x.detach().reshape(len(x), -1)
    finite = torch.isfinite(flat).all(1)
    big = torch.nan_to_num(flat.double(), nan=0.0, posinf=0.0, neginf=0.0)
    outside = (big.amin(1) < lo - margin) | (big.amax(1) > hi + margin)
    return ~finite | outside


__all__ = ["DIVERGENCE_FACTOR", "diverged"]
