"""The Denoiser protocol D(x, sigma) = E[X | X + sigma N = x] in VE coordinates, model adapters and exact oracles."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Protocol, Sequence

import torch

from rwbench.core.schedules import abar_of_sigma, alphas_cumprod, sigma_at, sigma_of_abar, t_at, vp_input_scale


F64 = torch.float64


class Denoiser(Protocol):
    """MMSE denoiser in VE coordinates; `sigma` is a 0-d float64 tensor, the output has x's shape and dtype."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...


def _sigma_value(sigma) -> float:
    value = float(sigma)
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"sigma: need a finite noise level > 0, got {value}")
    return value


def _batch_vector(value, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a scalar conditioning value to a [B] tensor on x's device."""
    return torch.full((x.shape[0],), float(value), dtype=F64, device=x.device)


# ---------------------------------------------------------------- adapters (model boundary)


class VPEpsDenoiser:
    """D(x, sigma) = x - sigma eps(sqrt(abar) x, t(sigma)), abar = 1/(1 + sigma^2) (eq. 13, Table I)."""

    def __init__(self, eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], alphas_cumprod: torch.Tensor):
        abar = torch.as_tensor(alphas_cumprod, dtype=F64).cpu()
        if abar.ndim != 1 or abar.numel() < 2 or not torch.all(abar[1:] < abar[:-1]):
            raise ValueError("alphas_cumprod: need a 1-D strictly decreasing tensor of length >= 2")
        self.eps_fn = eps_fn
        self.alphas_cumprod = abar
        self.sigmas = sigma_of_abar(abar)  # sigma_t at integer t = 0..T-1, increasing

    def sigma_to_t(self, sigma) -> float:
        """t(sigma): the exact inverse of sigma(t) (rwbench.core.schedules.t_at; clamped to [0, T-1])."""
        return t_at(_sigma_value(sigma), self.sigmas)

    def eps(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """The network's noise prediction at VE input x: eps(sqrt(abar(sigma)) x, t(sigma))."""
        s = _sigma_value(sigma)
        scale = vp_input_scale(s)
        t = _batch_vector(self.sigma_to_t(s), x)
        return self.eps_fn(x * scale, t).to(x.dtype)

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        return x - float(sigma) * self.eps(x, sigma)


class VEScoreDenoiser:
    """D(x, sigma) = x + sigma^2 s(x, sigma) for a score network s (Tweedie, Table I)."""

    def __init__(self, score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.score_fn = score_fn

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = _sigma_value(sigma)
        return x + (s * s) * self.score_fn(x, _batch_vector(s, x)).to(x.dtype)


class IADBDenoiser:
    """IADB bridge: a = 1/(1+sigma), x_a = a x, D = x_a + (1-a) blend(x_a, a) (paper.md section 10)."""

    def __init__(self, blend_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.blend_fn = blend_fn

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = _sigma_value(sigma)
        a = 1.0 / (1.0 + s)
        xa = a * x
        return xa + (1.0 - a) * self.blend_fn(xa, _batch_vector(a, x)).to(x.dtype)


# ---------------------------------------------------------------- reverse conversions (for native samplers)


def score_from_denoiser(denoiser: Denoiser) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """score_fn(x, sigma[B]) = (D(x, sigma) - x) / sigma^2 (Tweedie); sigma must be equal across the batch."""

    def score_fn(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = _scalar_of(sigma)
        return (denoiser(x, s) - x) / (s.item() ** 2)

    return score_fn


def eps_from_denoiser(denoiser: Denoiser, alphas_cumprod: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """eps_fn(x_vp, t[B]) = (x - D(x, sigma_t)) / sigma_t with x = x_vp / sqrt(abar_t) (eq. 13 inverted)."""
    abar = torch.as_tensor(alphas_cumprod, dtype=F64).cpu()
    T = abar.numel()
    levels = sigma_of_abar(abar)

    def eps_fn(x_vp: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = float(_scalar_of(t))
        if not 0 <= tt <= T - 1:
            raise ValueError(f"t: need 0 <= t <= {T - 1}, got {tt}")
        # sigma(t) of rwbench.core.schedules.sigma_at (the adapter's own map; at integer t the DDPM level itself) and
        # abar(t) = 1 / (1 + sigma(t)^2), which at integer t is the chain's abar_t
        if tt == int(tt):
            ab = float(abar[int(tt)])
            sigma = sigma_of_abar(ab)
        else:
            sigma = float(sigma_at(tt, levels))
            ab = abar_of_sigma(sigma)
        x = x_vp / math.sqrt(ab)
        return (x - denoiser(x, torch.tensor(sigma, dtype=F64))) / sigma

    return eps_fn


def chain_eps(denoiser: Denoiser, betas: torch.Tensor,
              timesteps: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """eps_fn(x_vp, k[B]) on a respaced DDPM chain whose step k is DDPM time timesteps[k] of the full `betas`: the
    network itself for VP models (VPEpsDenoiser.eps_fn), else the denoiser through Tweedie (eps_from_denoiser)."""
    if isinstance(denoiser, VPEpsDenoiser):
        eps_fn = denoiser.eps_fn
    else:
        eps_fn = eps_from_denoiser(denoiser, alphas_cumprod(torch.as_tensor(betas, dtype=F64)))
    ts = torch.as_tensor(timesteps).to(F64)

    def on_chain(x_vp: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return eps_fn(x_vp, ts[k.round().long().cpu()].to(k.device))

    return on_chain


def blend_from_denoiser(denoiser: Denoiser, a_min: float = 1e-6) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """blend_fn(x_a, a[B]) = (D(x_a / a, (1-a)/a) - x_a) / (1 - a), with a clamped to >= a_min (IADB bridge inverted)."""

    def blend_fn(xa: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        av = min(max(float(_scalar_of(a)), a_min), 1.0 - 1e-12)
        sigma = (1.0 - av) / av
        return (denoiser(xa / av, torch.tensor(sigma, dtype=F64)) - xa) / (1.0 - av)

    return blend_fn


def _scalar_of(v) -> torch.Tensor:
    v = torch.as_tensor(v, dtype=F64).detach().cpu().reshape(-1)
    if v.numel() > 1 and not torch.all(v == v[0]):
        raise ValueError("conditioning: adapters need one noise level per batch, got several")
    return v[0]


# ---------------------------------------------------------------- exact oracles


def _flatten(x: torch.Tensor, dim: int) -> torch.Tensor:
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[1] != dim:
        raise ValueError(f"x: oracle of dimension {dim} got inputs with {flat.shape[1]} values per sample (shape {tuple(x.shape)})")
    return flat.to(F64)


class GaussianMixtureDenoiser:
    """Exact MMSE denoiser of a Gaussian mixture: responsibility-weighted m_j + C_j (C_j + s^2 I)^-1 (x - m_j)."""

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, covs: torch.Tensor, *, sample_shape: Sequence[int] | None = None):
        weights = torch.as_tensor(weights, dtype=F64)
        means = torch.as_tensor(means, dtype=F64)
        covs = torch.as_tensor(covs, dtype=F64)
        if means.ndim != 2:
            raise ValueError(f"means: need shape [J, d], got {tuple(means.shape)}")
        J, d = means.shape
        if weights.shape != (J,) or not torch.all(weights >= 0) or not weights.sum() > 0:
            raise ValueError(f"weights: need {J} non-negative weights with a positive sum, got shape {tuple(weights.shape)}")
        if covs.shape != (J, d, d):
            raise ValueError(f"covs: need shape [{J}, {d}, {d}], got {tuple(covs.shape)}")
        covs = 0.5 * (covs + covs.transpose(1, 2))
        eigvals, eigvecs = torch.linalg.eigh(covs)
        if torch.any(eigvals < -1e-8 * eigvals.abs().max().clamp(min=1.0)):
            raise ValueError("covs: covariances must be positive semi-definite")
        self.weights = weights / weights.sum()
        self.log_weights = torch.log(self.weights)
        self.means = means
        self.covs = covs
        # eigenvalues at rounding level are exact zeros of a singular covariance: snap them
        tol = d * torch.finfo(F64).eps * eigvals.abs().amax(dim=1, keepdim=True)
        self.eigvals = torch.where(eigvals > tol, eigvals, torch.zeros_like(eigvals))
        self.eigvecs = eigvecs
        self.dim = d
        self.sample_shape = tuple(sample_shape) if sample_shape is not None else (d,)
        if math.prod(self.sample_shape) != d:
            raise ValueError(f"sample_shape: {self.sample_shape} does not hold {d} values")

    def _noise_var(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """sigma^2 per sample as a [B, 1, 1] float64 tensor (sigma: a scalar or one level per sample)."""
        sig = torch.as_tensor(sigma, dtype=F64).detach().to(self.means.device).reshape(-1)
        if sig.numel() == 1:
            sig = sig.expand(x.shape[0])
        if sig.numel() != x.shape[0]:
            raise ValueError(f"sigma: need a scalar or one level per sample ({x.shape[0]}), got {sig.numel()}")
        if not torch.all(sig > 0) or not torch.all(torch.isfinite(sig)):
            raise ValueError("sigma: every noise level must be finite and > 0")
        return (sig * sig)[:, None, None]

    def _posterior_parts(self, x: torch.Tensor, sigma):
        """Per component: log N(x; m_j, C_j + s^2 I) [B, J] and E_j[X | x] [B, J, d]."""
        y = _flatten(x, self.dim)
        s2 = self._noise_var(x, sigma)                                # [B, 1, 1]
        diff = y[:, None, :] - self.means[None]                      # [B, J, d]
        proj = torch.einsum("bjd,jde->bje", diff, self.eigvecs)       # coordinates in eigenbases
        denom = self.eigvals[None] + s2                               # [B, J, d]
        maha = (proj * proj / denom).sum(-1)                          # [B, J]
        logdet = torch.log(denom).sum(-1)                             # [B, J]
        loglik = -0.5 * (maha + logdet + self.dim * math.log(2 * math.pi))
        shrunk = proj * (self.eigvals[None] / denom)                  # C (C + s2 I)^-1 in eigenbasis
        cond_means = self.means[None] + torch.einsum("bje,jde->bjd", shrunk, self.eigvecs)
        return loglik, cond_means

    def responsibilities(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """p(component j | X_sigma = x), shape [B, J]."""
        loglik, _ = self._posterior_parts(x, sigma)
        return torch.softmax(loglik + self.log_weights, dim=-1)

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        loglik, cond_means = self._posterior_parts(x, sigma)
        resp = torch.softmax(loglik + self.log_weights, dim=-1)
        out = torch.einsum("bj,bjd->bd", resp, cond_means)
        return out.reshape(x.shape).to(x.dtype)

    def score(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """grad log f_{X_sigma}(x) = (D(x, sigma) - x) / sigma^2 (Tweedie, eq. 1); sigma scalar or [B]."""
        s2 = self._noise_var(x, sigma).reshape(-1, *([1] * (x.ndim - 1)))
        x64 = x.to(F64)
        return ((self(x64, sigma) - x64) / s2).to(x.dtype)

    def log_density(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """log f_{X_sigma}(x) = logsumexp_j (log w_j + log N(x; m_j, C_j + s^2 I)), shape [B]."""
        loglik, _ = self._posterior_parts(x, sigma)
        return torch.logsumexp(loglik + self.log_weights, dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact draws x = m_j + U_j diag(sqrt(lambda_j)) z, j ~ Categorical(w); shape [n, *sample_shape]."""
        comps = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, dtype=F64, generator=generator)
        scaled = z * self.eigvals[comps].sqrt()
        x = self.means[comps] + torch.einsum("nd,ned->ne", scaled, self.eigvecs[comps])
        return x.reshape(n, *self.sample_shape)

    @property
    def mean(self) -> torch.Tensor:
        """E[X] of the mixture, flat [d]."""
        return self.weights @ self.means

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that reconstruct this oracle (weights, means, covs, sample_shape)."""
        return {"weights": self.weights, "means": self.means, "covs": self.covs,
                "sample_shape": torch.tensor(self.sample_shape, dtype=torch.int64)}

    def save(self, path: str | Path) -> None:
        """Write the mixture as a safetensors file (atomically)."""
        from rwbench.io import save_safetensors

        save_safetensors(path, self.state_dict())

    @classmethod
    def load(cls, path: str | Path) -> "GaussianMixtureDenoiser":
        """Read a mixture written by save()."""
        from rwbench.io import load_safetensors

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: oracle file missing; run `rwbench prepare` to fit it")
        t = load_safetensors(path, "oracle file", "delete it and refit it with `rwbench prepare` (or snakemake)")
        missing = [key for key in ("weights", "means", "covs", "sample_shape") if key not in t]
        if missing:
            raise ValueError(f"{path}: key {missing[0]!r} missing, not an oracle file; delete it and refit it with "
                             f"`rwbench prepare` (or snakemake)")
        return cls(t["weights"], t["means"], t["covs"], sample_shape=tuple(int(v) for v in t["sample_shape"]))


class GaussianDenoiser(GaussianMixtureDenoiser):
    """Exact MMSE denoiser of N(m, C): m + C (C + s^2 I)^-1 (x - m) (a one-component mixture)."""

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor, *, sample_shape: Sequence[int] | None = None):
        mean = torch.as_tensor(mean, dtype=F64).reshape(-1)
        cov = torch.as_tensor(cov, dtype=F64)
        super().__init__(torch.ones(1, dtype=F64), mean[None], cov[None], sample_shape=sample_shape)

    def blend(self, xa: torch.Tensor, a: float) -> torch.Tensor:
        """Analytic IADB blend E[X1 - X0 | X_a = x_a] for X1 ~ N(m, C), X0 ~ N(0, I) (section 10)."""
        a = float(a)
        y = _flatten(xa, self.dim)
        m, U, lam = self.means[0], self.eigvecs[0], self.eigvals[0]
        # X_a = (1-a) X0 + a X1 is Gaussian with mean a m and cov (1-a)^2 I + a^2 C; regress X1 - X0 on it.
        var = (1 - a) ** 2 + a * a * lam                                  # eigenvalues of Cov(X_a)
        cross = a * lam - (1 - a)                                         # Cov(X1 - X0, X_a) eigenvalues
        proj = (y - a * m) @ U
        out = m + ((cross / var) * proj) @ U.T
        return out.reshape(xa.shape).to(xa.dtype)
