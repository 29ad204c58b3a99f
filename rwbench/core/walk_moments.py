"""Exact output moments of the random walk (rwbench.core.walk, eq. 11) on a Gaussian target N(m, Sigma).

With the exact denoiser D(x, s) = m + Sigma (Sigma + s^2 I)^-1 (x - m), the drift (tau_k / s_k^2)(D - x) is
-tau_k (Sigma + s_k^2 I)^-1 (x - m), so in the eigenbasis of Sigma (eigenvalue lam) each coordinate e = u^T (x - m)
follows the scalar linear recursion

    e_{k+1} = a_k e_k + sqrt(2 tau_k T_k) n_k,    a_k = 1 - tau_k / (lam + s_k^2),

with independent N(0, 1) noise n_k (none in the last step unless final_noise). Hence the mean and variance of e:

    mean_K = (prod_k a_k) mean_0,
    var_K  = (prod_k a_k^2) var_0 + sum_k 2 tau_k T_k prod_{j > k} a_j^2,

and the output is Gaussian, so its Wasserstein-2 distance to N(m, Sigma) is exact:
W2^2 = sum_i mean_i^2 + sum_i (sqrt(lam_i) - sqrt(var_i))^2. The start x_0 = init_scale z gives var_0 = init_scale^2
and mean_0 = -u_i^T m (the walk starts around 0, not m). docs/walk-variance.md derives what these formulas say about
the number of steps K. Pure float64 torch; any preset's (sigmas, taus, temperatures) work.
"""

from __future__ import annotations

import torch

from rwbench.core.walk import check_walk_params

F64 = torch.float64
CHUNK = 1 << 18      # levels x eigenvalues evaluated at once by walk_moments (memory bound, not a result)


def _eigenvalues(eigenvalues) -> torch.Tensor:
    lam = torch.as_tensor(eigenvalues, dtype=F64).detach().cpu().reshape(-1)
    if lam.numel() == 0 or not torch.all(torch.isfinite(lam)) or torch.any(lam < 0):
        raise ValueError("eigenvalues: need a non-empty list of finite eigenvalues >= 0 of the target covariance")
    return lam


def contraction_factors(sigmas, taus, eigenvalues) -> torch.Tensor:
    """a_k(lam) = 1 - tau_k / (lam + sigma_k^2), [K, N] for K levels and N eigenvalues."""
    sigmas, taus, _ = check_walk_params(sigmas, taus, torch.ones_like(torch.as_tensor(sigmas, dtype=F64)))
    lam = _eigenvalues(eigenvalues)
    return 1.0 - taus[:, None] / (lam[None, :] + sigmas[:, None] ** 2)


def walk_moments(sigmas, taus, temperatures, eigenvalues, start_var, start_mean=None, *,
                 final_noise: bool = False) -> dict[str, torch.Tensor]:
    """Closed-form output mean and variance per eigen-direction of the walk on N(m, Sigma).

    sigmas, taus, temperatures: the walk's K levels (as random_walk takes them); eigenvalues [N] of Sigma;
    start_var: the variance of x_0 per coordinate (a scalar: init_scale^2 for x_0 = init_scale z, or [N]);
    start_mean: E[u_i^T (x_0 - m)] per eigen-direction [N] (default 0); final_noise as in random_walk.
    Returns {"mean" [N], "var" [N], "gain" [N] (prod_k a_k), "eigenvalues" [N]} in float64.
    """
    sigmas, taus, temperatures = check_walk_params(sigmas, taus, temperatures)
    lam = _eigenvalues(eigenvalues)
    v0 = torch.as_tensor(start_var, dtype=F64).reshape(-1)
    if v0.numel() not in (1, lam.numel()) or torch.any(v0 < 0) or not torch.all(torch.isfinite(v0)):
        raise ValueError(f"start_var: need one finite variance >= 0 or one per eigenvalue ({lam.numel()})")
    m0 = torch.zeros_like(lam) if start_mean is None else torch.as_tensor(start_mean, dtype=F64).reshape(-1)
    if m0.numel() not in (1, lam.numel()):
        raise ValueError(f"start_mean: need one value or one per eigenvalue ({lam.numel()}), got {m0.numel()}")
    noise = 2.0 * taus * temperatures                                             # [K]
    if not final_noise:
        noise = noise.clone()
        noise[-1] = 0.0
    var, gain = (v0 * torch.ones_like(lam)).clone(), torch.ones_like(lam)
    # the product formula over blocks of levels (memory B x N): within a block, tail[k] = prod_{k < j in block} a_j^2
    block = max(1, CHUNK // lam.numel())
    for start in range(0, sigmas.numel(), block):
        stop = min(sigmas.numel(), start + block)
        a = 1.0 - taus[start:stop, None] / (lam[None, :] + sigmas[start:stop, None] ** 2)   # [B, N]
        after = torch.flip(torch.cumprod(torch.flip(a * a, [0]), 0), [0])                 # prod_{j >= k} a_j^2
        tail = torch.cat([after[1:], torch.ones(1, lam.numel(), dtype=F64)], 0)
        var = after[0] * var + (noise[start:stop, None] * tail).sum(0)
        gain = gain * torch.prod(a, 0)
    return {"mean": gain * m0, "var": var, "gain": gain, "eigenvalues": lam}


def variance_ratio(moments: dict[str, torch.Tensor], include_mean: bool = True) -> float:
    """E|x - m|^2 / tr Sigma of the output (sum of variances plus squared mean offsets; without them: the
    total-variance ratio sum_i var_i / sum_i lam_i)."""
    total = moments["var"].sum() + ((moments["mean"] ** 2).sum() if include_mean else 0.0)
    return float(total / moments["eigenvalues"].sum())


def wasserstein2_sq(moments: dict[str, torch.Tensor]) -> float:
    """Exact W2^2 between the (Gaussian) output and N(m, Sigma): |mean offset|^2 + sum (sqrt lam - sqrt var)^2."""
    lam, var = moments["eigenvalues"], moments["var"]
    return float((moments["mean"] ** 2).sum() + ((lam.sqrt() - var.sqrt()) ** 2).sum())


def stationary_variance(sigma: float, tau: float, temperature: float, eigenvalues) -> torch.Tensor:
    """Fixed point of v' = a^2 v + 2 tau T at one level: T (lam + sigma^2) / (1 - h / 2), h = tau / (lam + sigma^2)
    (finite only for 0 < h < 2): the variance the walk settles to when it stays at one level."""
    lam = _eigenvalues(eigenvalues)
    h = tau / (lam + sigma**2)
    return temperature * (lam + sigma**2) / (1.0 - h / 2.0)


def temperature_response(sigmas, taus, eigenvalues, *, final_noise: bool = False) -> torch.Tensor:
    """d var_K / d T_k = 2 tau_k prod_{j > k} a_j^2, [K, N]: var_K is affine in the temperatures, so a temperature
    schedule that hits a target output variance solves a linear equation (docs/walk-variance.md)."""
    sigmas, taus, _ = check_walk_params(sigmas, taus, torch.ones_like(torch.as_tensor(sigmas, dtype=F64)))
    a = contraction_factors(sigmas, taus, eigenvalues)
    after = torch.flip(torch.cumprod(torch.flip(a * a, [0]), 0), [0])
    tail = torch.cat([after[1:], torch.ones(1, a.shape[1], dtype=F64)], 0)
    out = 2.0 * taus[:, None] * tail
    if not final_noise:
        out[-1] = 0.0
    return out


__all__ = ["contraction_factors", "walk_moments", "variance_ratio", "wasserstein2_sq", "stationary_variance",
           "temperature_response"]
