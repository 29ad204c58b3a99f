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


def _kernel(walk, lam: torch.Tensor, start_level: float | None) -> dict:
    """One walk as a linear functional of the Brownian path (rwbench.core.brownian) per eigen-direction: the output's
    deviation is G s z + sum_k g_k n_k, z the start's normal (path above start_level^2), n_k the normalised increment
    over step k's path interval (u_{k+1}, u_k], g_k = sqrt(2 tau_k T_k) prod_{j > k} a_j, G = prod_k a_k."""
    from rwbench.core.brownian import path_times

    sigmas, taus, temps = check_walk_params(walk.sigmas, walk.taus, walk.temperatures)
    a = 1.0 - taus[:, None] / (lam[None, :] + sigmas[:, None] ** 2)                  # [K, N]
    after = torch.flip(torch.cumprod(torch.flip(a, [0]), 0), [0])                    # prod_{j >= k} a_j
    tail = torch.cat([after[1:], torch.ones(1, lam.numel(), dtype=F64)], 0)          # prod_{j > k} a_j
    g = (2.0 * taus * temps).sqrt()[:, None] * tail
    if not walk.final_noise:
        g[-1] = 0.0
    u = path_times(torch.cat([sigmas, sigmas.new_zeros(1)]))
    level = float(sigmas[0]) if start_level is None else float(start_level)
    scale = (lam + level**2).sqrt() if start_level is None else torch.full_like(lam, float(walk.init_scale))
    return {"g": g, "G": after[0], "s": scale, "level": level, "lo": u[1:], "hi": u[:-1]}


def _start_step_cov(level: float, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Cov(z, n_k) for the start normal z = level int_{level^2}^inf dW(v) / v and the normalised increments n_k over
    (lo_k, hi_k]: level ln(b / a) / sqrt(hi_k - lo_k) on the overlap (a, b] with (level^2, inf)."""
    a = lo.clamp_min(level**2)
    b = torch.maximum(hi, a)
    return level * torch.log(b / a) / (hi - lo).sqrt()


def coupled_covariance(walk_a, walk_b, eigenvalues, *, noise: str = "coupled", start: str = "exact") -> dict:
    """Exact joint second moments of two walks on N(m, Sigma) run for the same image, per eigen-direction of Sigma.

    walk_a, walk_b: anything with sigmas, taus, temperatures, final_noise, init_scale (rwbench.core.presets.WalkParams).
    start="exact": each walk starts from an exact draw of p_{sigma_0} (m + (Sigma + sigma_0^2 I)^1/2 z), "noise": from
    init_scale z. noise="coupled": as rwbench.core.brownian draws it - the start's z is the image's path above
    sigma_0^2 (z = sigma_0 int dW(v) / v) and step k's noise the normalised path increment over (sigma_{k+1}^2,
    sigma_k^2]; "independent": both walks share z (rwbench's per-image start draw) and have independent step noise.
    Returns {"var_a", "var_b", "cov", "corr"} [N] (float64): the outputs are Gaussian with these moments.

    The path's tree discretisation (start cells of width 0.036 in log sigma) is ignored: the formula is the limit of
    rwbench.core.brownian's construction as its cells shrink."""
    if noise not in ("coupled", "independent"):
        raise ValueError(f"noise: choose 'coupled' or 'independent', got {noise!r}")
    if start not in ("exact", "noise"):
        raise ValueError(f"start: choose 'exact' or 'noise', got {start!r}")
    lam = _eigenvalues(eigenvalues)
    A, B = (_kernel(w, lam, None if start == "exact" else float(torch.as_tensor(w.sigmas).reshape(-1)[0]))
            for w in (walk_a, walk_b))
    var = [k["G"] ** 2 * k["s"] ** 2 + (k["g"] ** 2).sum(0) for k in (A, B)]
    start_a, start_b = A["G"] * A["s"], B["G"] * B["s"]
    if noise == "independent":
        cov = start_a * start_b
    else:
        la, lb = A["level"], B["level"]
        cov = start_a * start_b * (min(la, lb) / max(la, lb))
        cov = cov + start_a * (_start_step_cov(la, B["lo"], B["hi"]) @ B["g"])
        cov = cov + start_b * (_start_step_cov(lb, A["lo"], A["hi"]) @ A["g"])
        overlap = (torch.minimum(A["hi"][:, None], B["hi"][None, :])
                   - torch.maximum(A["lo"][:, None], B["lo"][None, :])).clamp_min(0.0)
        overlap = overlap / ((A["hi"] - A["lo"])[:, None] * (B["hi"] - B["lo"])[None, :]).sqrt()
        cov = cov + torch.einsum("kn,kl,ln->n", A["g"], overlap, B["g"])
    return {"var_a": var[0], "var_b": var[1], "cov": cov, "corr": cov / (var[0] * var[1]).sqrt()}


def paired_statistic_variance(moments: dict, offsets=None) -> torch.Tensor:
    """Var(|x_a - c|^2 - |x_b - c|^2) for jointly Gaussian outputs centred on m (moments from coupled_covariance, one
    component per row when [J, N]) and offsets d = U^T (m - c) [.., N] (default 0): 4 d^T diag(va + vb - 2 cov) d +
    2 sum (va^2 + vb^2 - 2 cov^2), per component."""
    va, vb, c = moments["var_a"], moments["var_b"], moments["cov"]
    out = 2.0 * (va**2 + vb**2 - 2.0 * c**2).sum(-1)
    if offsets is not None:
        d = torch.as_tensor(offsets, dtype=F64)
        out = out + 4.0 * (d**2 * (va + vb - 2.0 * c)).sum(-1)
    return out


__all__ = ["contraction_factors", "walk_moments", "variance_ratio", "wasserstein2_sq", "stationary_variance",
           "temperature_response", "coupled_covariance", "paired_statistic_variance"]
