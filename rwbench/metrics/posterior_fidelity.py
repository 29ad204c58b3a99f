"""Posterior fidelity beyond accuracy (issue 26): calibration curves, the MMSE gap and a score-KSD of one inverse run.

Per target (the N draws of one measurement y), on the [0, 1] scale unless stated:

- **Calibration curves.** For each nominal level l in LEVELS, the share of points inside the central l interval of the
  N draws (linear-interpolated empirical quantiles, the rule of posterior_quality.credible_intervals), per pixel and
  for the projections on RANDOM_DIRECTIONS random unit directions and (oracle) on the PRINCIPAL_DIRECTIONS leading
  eigenvectors of the exact posterior covariance. Points: N exact posterior draws (oracle; the curve N independent
  exact draws reach is measured with the run's `exact_reference` draws in place of the sampler's) and the ground
  truth (every model; its reference is the curve of N exact draws for near-Gaussian marginals,
  posterior_quality.reference_coverage). The summary is the mean signed gap over the levels (sampler curve minus the
  reference curve): 0 for exact sampling, < 0 for under-coverage (over-confident), > 0 for over-dispersion.
- **MMSE gap.** |mean of the N draws - exact posterior mean|^2 against its expectation for N exact draws,
  tr Cov[x | y] / N (both on [0, 1]): the per-target ratio, 1 in expectation for exact draws; in dB over targets.
- **score-KSD.** The kernel Stein discrepancy of the N draws to the posterior score
  s(x) = (D(x, sigma) - x) / sigma^2 + A^T (y - A x) / eta^2 on the model's data scale: the prior score from the
  model's denoiser at sigma = the spec's sigma_min (exact for the oracle: its closed-form denoiser), the exact
  likelihood gradient of the measurement. IMQ kernel k(x, x') = (c^2 + |x - x'|^2)^beta with beta = -1/2 and a fixed
  c = 1 on the model's data scale (KSD_C, KSD_BETA; fixed rather than a median heuristic so that the cells of one
  model share one kernel and their KSDs can be ranked). Per target the U-statistic over the N (N - 1) ordered pairs
  of distinct draws (unbiased: 0 in expectation for draws of the score's own density); averaged over targets with
  its se over targets.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import numpy as np
import torch

from rwbench.metrics.posterior_quality import reference_coverage

F64 = torch.float64
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)   # nominal levels of the calibration curves
RANDOM_DIRECTIONS = 32          # random unit projection directions (fixed per dimension and seed)
PRINCIPAL_DIRECTIONS = 8        # leading eigenvectors of the exact posterior covariance (oracle)
KSD_C, KSD_BETA = 1.0, -0.5     # IMQ kernel (c^2 + |x - x'|^2)^beta on the model's data scale
BASES = ("pixel", "random", "principal")
AGAINST = ("exact", "truth")
DIRECTION_STREAM = "fidelity/directions"


# ------------------------------------------------------------------------------------------------ calibration curves


def _quantile_levels(levels: Sequence[float]) -> torch.Tensor:
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"levels: need credible levels strictly between 0 and 1, got {level}")
    return torch.tensor([q for level in levels for q in ((1 - level) / 2, (1 + level) / 2)], dtype=F64)


def coverage_curve(samples: torch.Tensor, points: torch.Tensor, levels: Sequence[float] = LEVELS) -> np.ndarray:
    """Share of the points' coordinates inside the per-coordinate central interval of the samples, one value per level.

    samples [N, k] (N >= 2 draws of k coordinates), points [M, k]; intervals from torch.quantile's linear rule, the
    rule of posterior_quality.credible_intervals."""
    x = samples.detach().to(F64).reshape(samples.shape[0], -1)
    p = points.detach().to(F64).reshape(points.shape[0], -1)
    if x.shape[0] < 2:
        raise ValueError(f"samples: need >= 2 draws for an interval, got {x.shape[0]}")
    if p.shape[1] != x.shape[1]:
        raise ValueError(f"points: need {x.shape[1]} coordinates like the samples, got {p.shape[1]}")
    q = torch.quantile(x, _quantile_levels(levels), dim=0).reshape(len(levels), 2, -1)   # [L, 2, k]
    inside = (p[None] >= q[:, :1]) & (p[None] <= q[:, 1:])                             # [L, M, k]
    return inside.to(F64).mean(dim=(1, 2)).numpy()


@functools.lru_cache(maxsize=64)
def reference_curve(N: int, levels: tuple = LEVELS) -> np.ndarray:
    """The coverage curve N exact draws reach for near-Gaussian marginals (reference_coverage, Monte Carlo)."""
    return np.array([reference_coverage(int(N), level, n_mc=20_000) for level in levels])


@functools.lru_cache(maxsize=16)
def _random_directions(d: int, k: int, seed: int) -> torch.Tensor:
    from rwbench.core.rng import image_seed

    g = torch.Generator().manual_seed(image_seed(int(seed), DIRECTION_STREAM, int(d)))
    v = torch.randn(k, d, generator=g, dtype=F64)
    return v / v.norm(dim=1, keepdim=True)


def random_directions(d: int, k: int = RANDOM_DIRECTIONS, seed: int = 0) -> torch.Tensor:
    """k random unit directions in R^d [k, d], the same for every run of one dimension and seed."""
    return _random_directions(int(d), int(k), int(seed)).clone()


def principal_directions(cov: torch.Tensor, k: int = PRINCIPAL_DIRECTIONS) -> torch.Tensor:
    """The k leading eigenvectors [k, d] of a covariance [d, d] (e.g. mixture_covariance of the exact posterior)."""
    return torch.linalg.eigh(cov).eigenvectors[:, -int(k):].flip(1).T.contiguous()


def mixture_covariance(w: torch.Tensor, m: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Total covariance [d, d] of a Gaussian mixture sum_j w_j N(m_j, C_j): sum_j w_j (C_j + (m_j - m)(m_j - m)^T)."""
    centred = m - w @ m
    return torch.einsum("j,jde->de", w, C) + torch.einsum("j,jd,je->de", w, centred, centred)


def curves(samples: torch.Tensor, points: torch.Tensor, bases: dict[str, torch.Tensor | None],
           levels: Sequence[float] = LEVELS) -> dict[str, np.ndarray]:
    """Coverage curves of `points` by the intervals of `samples` per basis: None = pixels, else the rows of [k, d]."""
    x = samples.detach().to(F64).reshape(samples.shape[0], -1)
    p = points.detach().to(F64).reshape(points.shape[0], -1)
    return {name: coverage_curve(x if V is None else x @ V.T, p if V is None else p @ V.T, levels)
            for name, V in bases.items()}


# ------------------------------------------------------------------------------------------------------- MMSE gap


def mmse_ratio(samples: torch.Tensor, exact_mean: torch.Tensor, trace_cov: float) -> float:
    """|mean of the N draws - exact posterior mean|^2 / (tr Cov / N): 1 in expectation for N exact draws."""
    x = samples.detach().to(F64).reshape(samples.shape[0], -1)
    err = float((x.mean(0) - exact_mean.detach().to(F64).reshape(-1)).pow(2).sum())
    return err / (float(trace_cov) / x.shape[0])


def ratio_db(values, clusters=None) -> dict:
    """Mean of per-target ratios over targets in dB (10 log10), with its t interval over targets mapped through
    10 log10 (a lower end <= 0 maps to -inf); se of the mean ratio."""
    from rwbench.metrics import intervals

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"value": math.nan, "se": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "n": 0}
    mean = float(v.mean())
    db = lambda r: 10 * math.log10(r) if r > 0 else -math.inf
    if len(v) < 2:
        return {"value": db(mean), "se": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "n": len(v)}
    got = intervals.t_interval(mean, float(v.std(ddof=1) / math.sqrt(len(v))), len(v) - 1, len(v))
    return {"value": db(mean), "se": got.se, "ci_lo": db(got.lo), "ci_hi": db(got.hi), "n": len(v)}


# ------------------------------------------------------------------------------------------------------ score-KSD


def imq_stein_kernel(x: torch.Tensor, scores: torch.Tensor, c: float = KSD_C, beta: float = KSD_BETA) -> torch.Tensor:
    """The Stein kernel u_p(x_i, x_j) [n, n] of the IMQ kernel k = (c^2 + |r|^2)^beta, r = x_i - x_j:

    u_p = k s_i.s_j + 2 beta q^(beta-1) (s_j - s_i).r - 2 beta d q^(beta-1) - 4 beta (beta-1) q^(beta-2) |r|^2,
    q = c^2 + |r|^2, s = grad log p (the scores of the points); x and scores [n, ...] flattened per point."""
    X = x.detach().to(F64).reshape(x.shape[0], -1)
    S = scores.detach().to(F64).reshape(scores.shape[0], -1)
    if S.shape != X.shape:
        raise ValueError(f"scores: need one score per point of shape {tuple(X.shape)}, got {tuple(S.shape)}")
    if not c > 0 or not beta < 0:
        raise ValueError(f"IMQ kernel: need c > 0 and beta < 0, got c = {c}, beta = {beta}")
    d = X.shape[1]
    sq = (X * X).sum(1)
    r2 = (sq[:, None] + sq[None, :] - 2 * X @ X.T).clamp(min=0)
    q = c * c + r2
    SX = S @ X.T                                           # [i, j] = s_i . x_j
    diag = torch.diagonal(SX)
    cross = SX + SX.T - diag[:, None] - diag[None, :]      # (s_j - s_i) . (x_i - x_j)
    return (q ** beta * (S @ S.T) + 2 * beta * q ** (beta - 1) * cross
            - 2 * beta * d * q ** (beta - 1) - 4 * beta * (beta - 1) * q ** (beta - 2) * r2)


def ksd_u(x: torch.Tensor, scores: torch.Tensor, c: float = KSD_C, beta: float = KSD_BETA) -> float:
    """Unbiased KSD^2 U-statistic: mean of u_p(x_i, x_j) over the ordered pairs i != j (n >= 2 points)."""
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"x: need >= 2 points for the KSD U-statistic, got {n}")
    U = imq_stein_kernel(x, scores, c, beta)
    return float((U.sum() - torch.diagonal(U).sum()) / (n * (n - 1)))


def posterior_score(denoiser, sigma: float, operator, y: torch.Tensor, eta: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """x -> (D(x, sigma) - x) / sigma^2 + A^T (y - A x) / eta^2 (float64) on the model's data scale; the denoiser runs
    in its own dtype (a network's float32, the oracle's float64) and returns float64."""
    from rwbench.core.conditional import likelihood_gradient

    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"sigma: need the small noise level of the prior score > 0, got {sigma}")
    grad = likelihood_gradient(operator, y.to(F64), eta)

    def score(x: torch.Tensor) -> torch.Tensor:
        x64 = x.to(F64)
        with torch.no_grad():        # the denoisers cast to their network's dtype and return x's
            den = denoiser(x64, sigma).to(F64)
        return (den - x64) / (sigma * sigma) + grad(x64)

    return score


# -------------------------------------------------------------------------------------------------------- one run


def run_denoiser(spec: dict, device="cpu"):
    """The run's denoiser (its model, loaded once per process: rwbench.run.sample.cached_denoiser)."""
    from rwbench.run.sample import DTYPES, cached_denoiser

    return cached_denoiser(spec, device, DTYPES[spec.get("dtype", "float32")])


def target_operator(spec: dict, target: int, n: int):
    """The operator of `n` draws of one target (its mask from stream (seed, mask, task, target)) and eta."""
    from rwbench.tasks.measure import task_operator

    params = dict(spec["task_params"])
    eta = float(params.pop("eta"))
    return task_operator(spec["task"], int(spec["seed"]), [int(target)] * int(n), **params), eta


def run_fidelity(spec: dict, data: dict, ok: torch.Tensor, targets: Sequence[int], *, denoiser=None, device="cpu",
                 levels: Sequence[float] = LEVELS, ksd_sigma: float | None = None) -> tuple[list[dict], list[dict]]:
    """Per-target fidelity statistics of an inverse run and its coverage curves.

    Returns (rows, curve_rows): rows one per target with n, ksd (and, for oracle runs, ksd_exact_n from the run's
    exact_reference draws), coverage_gap_truth (+ _exact_n), and for oracle runs coverage_gap / _random /
    _principal (against the exact draws; reference: the exact_reference draws' curve), mmse_ratio (+ _exact_n);
    curve_rows long format (target, against, basis, level, coverage, reference). `data` holds the shards on [0, 1]
    (rwbench.run.rundir.load_shards); the KSD runs on the model's data scale (spec data_range) with the prior score
    at sigma = ksd_sigma (default the spec's sigma_min)."""
    from rwbench.models.denoisers import GaussianMixtureDenoiser
    from rwbench.models.oracle_posterior import gmm_posterior_parts

    lo, hi = (float(v) for v in spec["data_range"])
    width = hi - lo
    sigma = float(ksd_sigma if ksd_sigma is not None else spec["sigma_min"])
    denoiser = denoiser if denoiser is not None else run_denoiser(spec, device)
    oracle = isinstance(denoiser, GaussianMixtureDenoiser) and "exact_draw" in data
    reference = oracle and "exact_reference" in data
    level_key = tuple(float(v) for v in levels)
    rows, curve_rows = [], []
    for t in [int(v) for v in targets]:
        member = ok & (data["target"] == t)
        n = int(member.sum())
        if n < 2:
            continue
        first = int(torch.nonzero(data["target"] == t)[0, 0])
        x = data["sample"][member].to(F64)                                        # [n, C, H, W] on [0, 1]
        d = x[0].numel()
        operator, eta = target_operator(spec, t, n)
        y = data["measurement"][member].to(F64)
        model = lambda u: lo + width * u                                          # [0, 1] -> data scale
        score = posterior_score(denoiser, sigma, operator, y, eta)
        row = {"target": t, "n": n, "ksd": ksd_u(model(x), score(model(x)))}
        bases = {"pixel": None, "random": random_directions(d, seed=int(spec["seed"]))}
        truth = data["ground_truth"][first].to(F64)[None]
        ref = reference_curve(n, level_key)
        sets = {"sampler": x}
        if reference:
            sets["exact_n"] = data["exact_reference"][member].to(F64)
            row["ksd_exact_n"] = ksd_u(model(sets["exact_n"]), score(model(sets["exact_n"])))
        if oracle:
            one, _ = target_operator(spec, t, 1)
            w, means, covs, _ = gmm_posterior_parts(denoiser, one.dense(denoiser.sample_shape), y[0], eta)
            cov = mixture_covariance(w, means, covs)                               # on the model's scale
            bases["principal"] = principal_directions(cov)
            exact = data["exact_draw"][data["target"] == t].to(F64)
            mean = (data["exact_mmse"][first].to(F64) if "exact_mmse" in data else
                    ((w @ means).reshape(x.shape[1:]) - lo) / width)
            trace = float(torch.trace(cov)) / width ** 2
        for name, draws in sets.items():
            suffix = "" if name == "sampler" else "_exact_n"
            got = curves(draws, truth, {k: v for k, v in bases.items() if k != "principal"}, levels)
            row["coverage_gap_truth" + suffix] = float(np.mean(got["pixel"] - ref))
            for basis, curve in got.items():
                curve_rows += [{"target": t, "draws": name, "against": "truth", "basis": basis, "level": level,
                                "coverage": float(c), "reference": float(r)} for level, c, r in zip(levels, curve, ref)]
            if oracle:
                row["mmse_ratio" + suffix] = mmse_ratio(draws, mean, trace)
                got = curves(draws, exact, bases, levels)
                for basis, curve in got.items():
                    curve_rows += [{"target": t, "draws": name, "against": "exact", "basis": basis, "level": level,
                                    "coverage": float(c), "reference": math.nan}
                                   for level, c in zip(levels, curve)]
                row.update({f"_curve_{basis}{suffix}": curve for basis, curve in got.items()})
        if reference:      # the curve N exact draws reach, measured: the exact_reference draws' coverage of the same draws
            for basis in bases:
                gap = row.pop(f"_curve_{basis}") - row.pop(f"_curve_{basis}_exact_n")
                row["coverage_gap" + ("" if basis == "pixel" else f"_{basis}")] = float(np.mean(gap))
        rows.append({k: v for k, v in row.items() if not k.startswith("_curve_")})
    if reference:          # fill each exact-draw curve row's reference from the exact_n draws of the same target
        measured = {(r["target"], r["basis"], r["level"]): r["coverage"] for r in curve_rows
                    if r["against"] == "exact" and r["draws"] == "exact_n"}
        for r in curve_rows:
            if r["against"] == "exact":
                r["reference"] = measured[(r["target"], r["basis"], r["level"])]
    return rows, curve_rows


__all__ = ["LEVELS", "RANDOM_DIRECTIONS", "PRINCIPAL_DIRECTIONS", "KSD_C", "KSD_BETA", "BASES", "AGAINST",
           "coverage_curve", "reference_curve", "random_directions", "principal_directions", "mixture_covariance",
           "curves", "mmse_ratio", "ratio_db", "imq_stein_kernel", "ksd_u", "posterior_score", "run_denoiser",
           "target_operator", "run_fidelity"]
