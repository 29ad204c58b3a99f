"""Posterior-quality metrics: PSNR/SSIM of single samples and of the mean of N samples; oracle gap, distance and coverage.

PSNR and SSIM come from rwbench.metrics.image_quality (standard PSNR: clip to [0, 1], peak 1; the paper's
per-image min-max PSNR); images are first mapped from their data range to [0, 1].
"""

from __future__ import annotations

from typing import Sequence

import torch

from rwbench.metrics import distances as stats
from rwbench.metrics import image_quality as iq
from rwbench.metrics.registry import CREDIBLE_LEVEL

F64 = torch.float64


def to_unit(x: torch.Tensor, data_range: Sequence[float] = (0.0, 1.0)) -> torch.Tensor:
    """Map images from data_range = (lo, hi) to [0, 1]: (x - lo) / (hi - lo), float64."""
    lo, hi = (float(v) for v in data_range)
    if not hi > lo:
        raise ValueError(f"data_range: need (lo, hi) with hi > lo, got {tuple(data_range)}")
    return (x.detach().to(F64) - lo) / (hi - lo)


def _samples(samples: torch.Tensor, target: torch.Tensor) -> None:
    if samples.ndim != 4 or tuple(samples.shape[1:]) != tuple(target.shape):
        raise ValueError(f"samples: need [N, C, H, W] draws for a target of shape {tuple(target.shape)}, got {tuple(samples.shape)}")


def sample_psnrs(samples: torch.Tensor, target: torch.Tensor, data_range: Sequence[float] = (0.0, 1.0)) -> dict[str, torch.Tensor]:
    """Per-sample standard and min-max PSNR [N] of N draws for one target [C, H, W]."""
    _samples(samples, target)
    xs, t = to_unit(samples, data_range), to_unit(target, data_range).expand_as(samples)
    return {"psnr": iq.psnr(xs, t), "psnr_minmax": iq.psnr_minmax(xs, t)}


def credible_intervals(samples: torch.Tensor, level: float = CREDIBLE_LEVEL) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-coordinate central `level` interval (empirical (1-level)/2 and (1+level)/2 quantiles of N >= 2 draws), flat [d] each."""
    if not 0 < level < 1:
        raise ValueError(f"level: need a credible level strictly between 0 and 1, got {level}")
    if samples.shape[0] < 2:
        raise ValueError(f"samples: need >= 2 draws for credible intervals, got {samples.shape[0]}")
    flat = samples.detach().to(F64).reshape(samples.shape[0], -1)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=F64)
    lo, hi = torch.quantile(flat, q, dim=0)
    return lo, hi


def credible_coverage(samples: torch.Tensor, truth: torch.Tensor, level: float = CREDIBLE_LEVEL) -> float:
    """Fraction of truth's coordinates inside the per-coordinate central `level` interval of the samples (credible_intervals)."""
    lo, hi = credible_intervals(samples, level)
    return _covered(lo, hi, truth)


def quantile_position(q: float, N: int) -> float:
    """0-based position h = q (N - 1) of the q-quantile among N sorted draws (torch.quantile's linear rule)."""
    return q * (N - 1)


def reference_coverage_uniform(N: int, level: float = CREDIBLE_LEVEL) -> float:
    """Expected coverage of a new exact draw by the `level` interval of N exact draws, closed form for order statistics.

    A new draw falls between the i-th and j-th order statistics with probability (j - i) / (N + 1); with the linear
    rule the interval ends sit at 1-based positions 1 + h, so the coverage is (h_hi - h_lo) / (N + 1). Exact for any
    continuous law when h_lo, h_hi are integers, and for uniform marginals always (interpolation is linear in F).
    """
    if N < 2:
        raise ValueError(f"N: need >= 2 draws for an interval, got {N}")
    return (quantile_position((1 + level) / 2, N) - quantile_position((1 - level) / 2, N)) / (N + 1)


def reference_coverage(N: int, level: float = CREDIBLE_LEVEL, n_mc: int = 200_000, seed: int = 0, law: str = "normal") -> float:
    """Coverage that N exact posterior draws reach at `level` (Monte Carlo with credible_intervals' quantile rule).

    Each of n_mc replicates draws N + 1 values of `law` (normal: the near-Gaussian per-pixel posteriors; uniform:
    equals reference_coverage_uniform) and asks whether the last falls inside the interval of the first N.
    """
    if N < 2:
        raise ValueError(f"N: need >= 2 draws for an interval, got {N}")
    g = torch.Generator().manual_seed(seed)
    draws = torch.randn(N + 1, n_mc, generator=g, dtype=F64) if law == "normal" else \
        torch.rand(N + 1, n_mc, generator=g, dtype=F64)
    lo, hi = credible_intervals(draws[:N], level)       # the same rule the sampler's intervals use
    return _covered(lo, hi, draws[N])


def _covered(lo: torch.Tensor, hi: torch.Tensor, truth: torch.Tensor) -> float:
    if truth.numel() != lo.numel():
        raise ValueError(f"truth: need {lo.numel()} values (one sample), got shape {tuple(truth.shape)}")
    tr = truth.detach().to(F64).reshape(-1)
    return float(((tr >= lo) & (tr <= hi)).to(F64).mean())


def posterior_quality(samples: torch.Tensor, target: torch.Tensor, data_range: Sequence[float] = (0.0, 1.0), *,
                      ssim: bool = True) -> dict[str, float]:
    """PSNR (standard, min-max) and SSIM of single samples (averaged over the N draws) and of the mean of the N draws."""
    _samples(samples, target)
    out: dict[str, float] = {"n_samples": float(samples.shape[0])}
    single = sample_psnrs(samples, target, data_range)
    out["psnr_single"] = float(single["psnr"].mean())
    out["psnr_minmax_single"] = float(single["psnr_minmax"].mean())
    mean = to_unit(samples, data_range).mean(0, keepdim=True)
    t = to_unit(target, data_range)[None]
    out["psnr_mean"] = float(iq.psnr(mean, t)[0])
    out["psnr_minmax_mean"] = float(iq.psnr_minmax(mean, t)[0])
    if ssim and min(target.shape[-2:]) >= 3:
        out["ssim_single"] = float(iq.ssim(to_unit(samples, data_range), t.expand_as(samples)).mean())
        out["ssim_mean"] = float(iq.ssim(mean, t)[0])
    return out


def oracle_quality(samples: torch.Tensor, target: torch.Tensor, exact_mmse: torch.Tensor, exact_draws: torch.Tensor,
                   data_range: Sequence[float] = (0.0, 1.0), *, level: float = CREDIBLE_LEVEL, n_projections: int = 256) -> dict[str, float]:
    """Oracle-only metrics: PSNR(mean of N) - PSNR(exact MMSE) (standard PSNR) and the same gap of the mean of the exact
    draws, energy distance and sliced W2 (on the [0, 1] scale) between sampler draws and exact posterior draws, `level`
    credible-interval coverage of the ground truth and of the exact draws, and the coverage N exact draws reach."""
    _samples(samples, target)
    _samples(exact_draws, target)
    t = to_unit(target, data_range)[None]
    mmse = to_unit(exact_mmse.reshape(target.shape), data_range)[None]
    mean = to_unit(samples, data_range).mean(0, keepdim=True)
    psnr_mean, psnr_mmse = float(iq.psnr(mean, t)[0]), float(iq.psnr(mmse, t)[0])
    xs, ex = to_unit(samples, data_range), to_unit(exact_draws, data_range)
    lo, hi = credible_intervals(xs, level)
    exact_cov = sum(_covered(lo, hi, e) for e in ex) / ex.shape[0]
    # what exact sampling reaches with as many draws: PSNR of the mean of the exact draws (its gap is < 0 by
    # about the posterior variance / N) and the coverage of N exact draws (reference_coverage, not `level`)
    psnr_exact_n = float(iq.psnr(ex.mean(0, keepdim=True), t)[0])
    return {"psnr_mean": psnr_mean, "psnr_exact_mmse": psnr_mmse, "psnr_gap": psnr_mean - psnr_mmse,
            "psnr_gap_exact_draws": psnr_exact_n - psnr_mmse, "psnr_gap_vs_exact_draws": psnr_mean - psnr_exact_n,
            "coverage_reference": reference_coverage(int(samples.shape[0]), level, n_mc=20_000),
            "mse_mean_vs_mmse": float((mean - mmse).pow(2).mean()),
            "energy_distance": stats.energy_distance(xs, ex),
            "sliced_wasserstein": stats.sliced_wasserstein(xs, ex, n_projections=n_projections),
            "coverage": _covered(lo, hi, t[0]), "coverage_of_exact_draws": exact_cov, "level": level}


__all__ = ["to_unit", "sample_psnrs", "credible_intervals", "credible_coverage", "posterior_quality", "oracle_quality",
           "quantile_position", "reference_coverage", "reference_coverage_uniform"]
