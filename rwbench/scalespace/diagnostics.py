"""Scale-space diagnostics D1-D6 of a trajectory X [P, B, C, H, W] (float64, data scale) at noise levels sigma [P].

D1 mean grey value and mean per-pixel ensemble variance; D2 Gaussian entropy per dimension with a Ledoit-Wolf covariance
and KL(N(mu, S) || N(0, s^2 I)) / n; D3 the schedule's H(x_k | x_0) / n; D4 grey-histogram entropy per image; D5 pixel-space
Frechet distance to the reference data and to the exact forward marginal; D6 the monotonicity score M(q)
(shared/spec/scale-space.md). Above `dense_limit` dimensions D2 uses a diagonal Gaussian in the DCT basis and D5 runs on
images area-downsampled to `frechet_resolution` pixels.
"""

from __future__ import annotations

import math

import torch

from rwbench.scalespace.dct import dct2

F64 = torch.float64
LOG_2PI_E = math.log(2.0 * math.pi * math.e)
EPS64 = torch.finfo(F64).eps
DENSE_LIMIT = 4096
# quantity -> direction expected along the sampler order (sigma decreasing), used by D6
EXPECTED = {"variance": "decrease", "gaussian_entropy": "decrease", "kl_vp": "increase", "fd_reference": "decrease",
            "fid": "decrease"}


def _flat(X: torch.Tensor, name: str = "X") -> torch.Tensor:
    if X.dim() < 2:
        raise ValueError(f"{name}: need samples [B, ...], got shape {tuple(X.shape)}")
    return X.reshape(X.shape[0], -1).to(F64)


def ensemble_mean_variance(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D1: grand mean grey value and mean over pixels of the unbiased per-pixel ensemble variance, each [P]."""
    if X.dim() != 5 or X.shape[1] < 2:
        raise ValueError(f"X: need a trajectory [P, B >= 2, C, H, W], got {tuple(X.shape)}")
    X = X.to(F64)
    return X.mean(dim=(1, 2, 3, 4)), X.var(dim=1, unbiased=True).mean(dim=(1, 2, 3))


def ledoit_wolf_shrinkage(Y: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """Ledoit-Wolf (2004): S* = (1 - delta) S + delta mu I with S = Yc^T Yc / B, mu = tr S / n,
    delta = min(b^2, d^2) / d^2, d^2 = ||S - mu I||_F^2, b^2 = (sum_k ||y_k||^4 - B ||S||_F^2) / B^2.

    Returns the n eigenvalues of S* (ascending), delta and mu; works through the B x B Gram matrix when n > B.
    """
    Y = _flat(Y, "Y")
    B, n = Y.shape
    if B < 2:
        raise ValueError(f"Y: need at least 2 samples, got {B}")
    Yc = Y - Y.mean(dim=0, keepdim=True)
    small = Yc @ Yc.T if n > B else Yc.T @ Yc                   # nonzero spectrum of B S
    small = 0.5 * (small + small.T)
    eig = torch.linalg.eigvalsh(small).clamp(min=0.0) / B
    S_fro2 = float((eig**2).sum())                              # ||S||_F^2 = sum of squared eigenvalues
    trace = float(eig.sum())
    mu = trace / n
    d2 = S_fro2 - 2.0 * mu * trace + n * mu * mu                # ||S - mu I||_F^2
    b2 = (float(((Yc * Yc).sum(dim=1) ** 2).sum()) - B * S_fro2) / B**2
    delta = 0.0 if d2 <= 0 else min(max(b2, 0.0), d2) / d2
    full = torch.cat([torch.zeros(n - eig.numel(), dtype=F64), eig]) if n > eig.numel() else eig
    return (1.0 - delta) * full + delta * mu, delta, mu


def ledoit_wolf_covariance(Y: torch.Tensor) -> torch.Tensor:
    """The Ledoit-Wolf covariance matrix S* [n, n] (dense; for small n and tests)."""
    Y = _flat(Y, "Y")
    _, delta, mu = ledoit_wolf_shrinkage(Y)
    Yc = Y - Y.mean(dim=0, keepdim=True)
    S = Yc.T @ Yc / Y.shape[0]
    return (1.0 - delta) * S + delta * mu * torch.eye(Y.shape[1], dtype=F64)


def gaussian_entropy_per_dim(logdet: float, n: int) -> float:
    """H(N(mu, S)) / n = 0.5 ln(2 pi e) + logdet(S) / (2n)."""
    return 0.5 * LOG_2PI_E + logdet / (2.0 * n)


def gaussian_kl_per_dim(mean_sq: float, trace: float, logdet: float, n: int, s2: float) -> float:
    """KL(N(mu, S) || N(0, s^2 I)) / n = (tr S / s^2 + ||mu||^2 / s^2 - n + n ln s^2 - logdet S) / (2n)."""
    if not s2 > 0:
        raise ValueError(f"s2: need a positive reference variance, got {s2}")
    return (trace / s2 + mean_sq / s2 - n + n * math.log(s2) - logdet) / (2.0 * n)


def gaussian_summary(Y: torch.Tensor, dense_limit: int = DENSE_LIMIT) -> dict[str, float]:
    """mean, tr S and logdet S of the Gaussian fit of samples Y [B, ...]: Ledoit-Wolf S, or above `dense_limit`
    dimensions a diagonal S of the per-coefficient variances in the 2-D DCT basis (orthonormal: same entropy)."""
    flat = _flat(Y, "Y")
    n = flat.shape[1]
    mu = flat.mean(dim=0)
    if n <= dense_limit:
        eig, _, _ = ledoit_wolf_shrinkage(flat)
    else:
        if Y.dim() != 4:
            raise ValueError(f"Y: the diagonal-DCT fit needs images [B, C, H, W], got {tuple(Y.shape)}")
        eig = dct2(Y).reshape(Y.shape[0], -1).var(dim=0, unbiased=False)
    logdet = float(torch.log(eig).sum()) if torch.all(eig > 0) else -math.inf
    return {"n": n, "mean_sq": float(mu @ mu), "trace": float(eig.sum()), "logdet": logdet}


def conditional_entropy_ve(sigma: float) -> float:
    """D3: H(x_k | x_0) / n = 0.5 ln(2 pi e sigma_k^2) of the VE kernel at sigma_k (VE coordinates); -inf at 0."""
    return 0.5 * (LOG_2PI_E + 2.0 * math.log(sigma)) if sigma > 0 else -math.inf


def grey_entropy(images: torch.Tensor, data_range: tuple[float, float]) -> torch.Tensor:
    """D4: entropy (nats) of each image's 256-bin grey histogram after rwbench.data.to_uint8 (clamp, round), [B]."""
    from rwbench.data import to_uint8

    levels = to_uint8(images, data_range).reshape(images.shape[0], -1).long()
    counts = torch.zeros(levels.shape[0], 256, dtype=F64).scatter_add_(1, levels, torch.ones_like(levels, dtype=F64))
    p = counts / levels.shape[1]
    return -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(dim=1)


class FrechetReference:
    """D5: Frechet distance ||mu - mu_r||^2 + tr S + tr A - 2 tr (A^{1/2} S A^{1/2})^{1/2} with A = S_r + s^2 I
    (s = 0: the reference data; s = sigma: the exact VE forward marginal p_data * N(0, sigma^2 I)); unbiased covariances,
    A's eigenbasis computed once, the cross term through the B x B matrix Yc A Yc^T / (B - 1).

    With `resolution`, images are area-downsampled to it first (`prepare`), which divides white-noise variance by the
    pooled area: `noise_gain` rescales sigma^2 accordingly.
    """

    def __init__(self, reference: torch.Tensor, resolution: int | None = None):
        if resolution is not None and reference.dim() != 4:
            raise ValueError(f"reference: downsampling needs images [N, C, H, W], got {tuple(reference.shape)}")
        self.image_shape = tuple(reference.shape[1:])
        self.resolution, self.noise_gain = resolution, 1.0
        reference = reference.to(F64)
        if resolution is not None:
            H, W = self.image_shape[-2:]
            if H % min(resolution, H) or W % min(resolution, W):
                raise ValueError(f"frechet_resolution: {resolution} must divide the image size {H}x{W}")
            reference = _downsample(reference, resolution)
            self.noise_gain = (reference.shape[-2] * reference.shape[-1]) / (H * W)
        R = _flat(reference, "reference")
        if R.shape[0] < 2:
            raise ValueError(f"reference: need at least 2 images, got {R.shape[0]}")
        self.n = R.shape[1]
        self.mean = R.mean(dim=0)
        Rc = R - self.mean
        cov = Rc.T @ Rc / (R.shape[0] - 1)
        w, V = torch.linalg.eigh(0.5 * (cov + cov.T))
        self.eigvals, self.eigvecs = w.clamp(min=0.0), V

    @classmethod
    def for_images(cls, reference: torch.Tensor, dense_limit: int = DENSE_LIMIT, frechet_resolution: int = 32):
        """Full resolution up to `dense_limit` values per image, else downsampled to `frechet_resolution`."""
        return cls(reference, None if reference[0].numel() <= dense_limit else frechet_resolution)

    def prepare(self, X: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] as this reference compares them (downsampled when `resolution` is set)."""
        if tuple(X.shape[1:]) != self.image_shape:
            raise ValueError(f"reference: image shape {self.image_shape} differs from the trajectory's "
                             f"{tuple(X.shape[1:])}")
        X = X.to(F64)
        return X if self.resolution is None else _downsample(X, self.resolution)

    def distances(self, Y: torch.Tensor, extra_vars: list[float]) -> list[float]:
        """Frechet distances of the Gaussian fit of samples Y [B, ...] to N(mu_r, S_r + s^2 I) for each s^2 in extra_vars."""
        Y = _flat(Y, "Y")
        B = Y.shape[0]
        if Y.shape[1] != self.n:
            raise ValueError(f"Y: {Y.shape[1]} values per sample, the reference has {self.n}")
        if B < 2:
            raise ValueError(f"Y: need at least 2 samples, got {B}")
        mu = Y.mean(dim=0)
        Z = (Y - mu) @ self.eigvecs                             # centred samples in A's eigenbasis
        trace_s = float((Z * Z).sum()) / (B - 1)
        diff2 = float(((mu - self.mean) ** 2).sum())
        out = []
        for s2 in extra_vars:
            a = self.eigvals + float(s2)
            if B <= self.n:
                G = (Z * a) @ Z.T / (B - 1)
            else:
                root = a.sqrt()
                G = (Z * root).T @ (Z * root) / (B - 1)
            ev = torch.linalg.eigvalsh(0.5 * (G + G.T))
            ev = torch.where(ev > ev.numel() * EPS64 * ev.abs().max(), ev, 0.0)   # rank <= B - 1: drop round-off
            cross = ev.sqrt().sum()
            out.append(diff2 + trace_s + float(a.sum()) - 2.0 * float(cross))
        return out


def monotonicity(q, decreasing: bool = True) -> float:
    """D6: M(q) = sum max(0, q_{k+1} - q_k) / (sum |q_{k+1} - q_k| + 1e-12) for a decreasing q (0 = monotone, 1 = reversed);
    an increasing q is scored as -q. Non-finite entries are dropped; NaN with fewer than two left."""
    q = torch.as_tensor(q, dtype=F64).reshape(-1)
    q = q[torch.isfinite(q)]
    if q.numel() < 2:
        return math.nan
    if not decreasing:
        q = -q
    dq = q[1:] - q[:-1]
    return float(dq.clamp(min=0.0).sum() / (dq.abs().sum() + 1e-12))


def _downsample(X: torch.Tensor, resolution: int) -> torch.Tensor:
    if X.shape[-1] <= resolution and X.shape[-2] <= resolution:
        return X
    import torch.nn.functional as F

    return F.adaptive_avg_pool2d(X, (min(resolution, X.shape[-2]), min(resolution, X.shape[-1])))


def trajectory_diagnostics(X: torch.Tensor, sigmas, data_range: tuple[float, float],
                           reference: torch.Tensor | FrechetReference | None = None, dense_limit: int = DENSE_LIMIT,
                           frechet_resolution: int = 32) -> dict[str, torch.Tensor]:
    """D1-D5 at every point of a trajectory X [P, B, C, H, W] with levels sigma [P]; returns quantity -> values [P].

    Quantities: mean, variance (D1); gaussian_entropy, kl_vp = KL(N(mu, S) || N(0, (1 + sigma^2) I)) / n, the VP
    invariant law N(0, I) in VE coordinates at sigma (D2); cond_entropy (D3); grey_entropy_mean, grey_entropy_std (D4);
    fd_reference, fd_forward (D5, only with `reference` images [N, C, H, W] on the same data scale, or a prepared
    FrechetReference to share between trajectories).
    """
    if X.dim() != 5 or X.shape[1] < 2:
        raise ValueError(f"X: need a trajectory [P, B >= 2, C, H, W], got {tuple(X.shape)}")
    X = X.to(F64)
    sig = torch.as_tensor(sigmas, dtype=F64).reshape(-1)
    P = X.shape[0]
    if sig.numel() != P or not torch.all(torch.isfinite(sig)) or torch.any(sig < 0):
        raise ValueError(f"sigmas: need {P} finite levels >= 0, got {sig.tolist()}")
    out: dict[str, list[float]] = {}
    mean, var = ensemble_mean_variance(X)
    out["mean"], out["variance"] = mean.tolist(), var.tolist()
    frechet = reference
    if isinstance(reference, torch.Tensor):
        frechet = FrechetReference.for_images(reference, dense_limit, frechet_resolution)
    if frechet is not None:
        frechet.prepare(X[0, :1])                                 # checks the image shape before any work
    for k in range(P):
        s = float(sig[k])
        g = gaussian_summary(X[k], dense_limit)
        out.setdefault("gaussian_entropy", []).append(gaussian_entropy_per_dim(g["logdet"], g["n"]))
        out.setdefault("kl_vp", []).append(gaussian_kl_per_dim(g["mean_sq"], g["trace"], g["logdet"], g["n"], 1.0 + s * s))
        out.setdefault("cond_entropy", []).append(conditional_entropy_ve(s))
        h = grey_entropy(X[k], data_range)
        out.setdefault("grey_entropy_mean", []).append(float(h.mean()))
        out.setdefault("grey_entropy_std", []).append(float(h.std(unbiased=True)))
        if frechet is not None:
            fd_ref, fd_fwd = frechet.distances(frechet.prepare(X[k]), [0.0, frechet.noise_gain * s * s])
            out.setdefault("fd_reference", []).append(fd_ref)
            out.setdefault("fd_forward", []).append(fd_fwd)
    return {key: torch.tensor(v, dtype=F64) for key, v in out.items()}


def monotonicity_scores(diagnostics: dict[str, torch.Tensor]) -> dict[str, float]:
    """D6 for every quantity with an expected direction along the sampler order (EXPECTED)."""
    return {q: monotonicity(diagnostics[q], decreasing=(d == "decrease")) for q, d in EXPECTED.items() if q in diagnostics}
