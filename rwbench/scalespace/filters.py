"""Osmosis u_t = Lap u - div(d u) with canonical drift d = grad ln v (Weickert et al. 2013) and exact homogeneous diffusion.

Discretisation (scale-space.md): drift on the half grid d_{i+1/2} = (2/h)(v_{i+1} - v_i)/(v_{i+1} + v_i), zero across
the border (no flux); every edge (i, i+1) exchanges the flux F = (u_{i+1} - u_i)/h - d_{i+1/2} (u_i + u_{i+1})/2, which gives
A_{i,i+-1} = 1/h^2 -+ d_{i+-1/2}/(2h) and A_ii = sum over edges of -1/h^2 + (d_{i-1/2} - d_{i+1/2})/(2h). Columns of A sum to
zero (mean grey value preserved), A v = 0 (steady state), off-diagonals are positive because |d| < 2/h for v > 0, so the
implicit matrix I - tau A is an M-matrix (positivity for every tau); the explicit step needs tau <= 1 / max |A_ii|.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rwbench.scalespace.dct import dct_filter, laplacian_eigenvalues

F64 = torch.float64
SCHEMES = ("implicit", "explicit")
MAX_UNKNOWNS = 1 << 16   # unknowns per block-diagonal sparse factorisation


def _check_images(x: torch.Tensor, name: str, positive: bool) -> np.ndarray:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"{name}: need a tensor [B, C, H, W], got {getattr(x, 'shape', type(x))}")
    arr = x.detach().to("cpu", F64).numpy()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: all values must be finite")
    if positive and not arr.min() > 0:
        raise ValueError(f"{name}: osmosis needs strictly positive images (min is {arr.min():.6g}); add a positive offset")
    return arr


def osmosis_matrix(v: np.ndarray, h: float = 1.0):
    """Block-diagonal sparse A (CSC) of the canonical-drift osmosis operator for images v [M, H, W] > 0 (one block each)."""
    import scipy.sparse as sp

    v = np.asarray(v, dtype=np.float64)
    M, H, W = v.shape
    idx = np.arange(M * H * W).reshape(M, H, W)
    rows, cols, vals = [], [], []
    inv_h2, inv_2h = 1.0 / h**2, 1.0 / (2.0 * h)
    for a, b, va, vb in ((idx[:, :, :-1], idx[:, :, 1:], v[:, :, :-1], v[:, :, 1:]),
                         (idx[:, :-1, :], idx[:, 1:, :], v[:, :-1, :], v[:, 1:, :])):
        i, j = a.ravel(), b.ravel()
        d = (2.0 / h) * ((vb - va) / (vb + va)).ravel()          # d_{i+1/2}, edge from i to j = i+1
        rows += [i, i, j, j]
        cols += [j, i, i, j]
        vals += [inv_h2 - d * inv_2h, -inv_h2 - d * inv_2h, inv_h2 + d * inv_2h, -inv_h2 + d * inv_2h]
    n = M * H * W
    return sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()


def osmosis_stability_bound(v: torch.Tensor, h: float = 1.0) -> float:
    """Largest explicit step keeping I + tau A non-negative (stable, positivity preserving): tau <= 1 / max_i |A_ii|."""
    arr = _check_images(v, "v", positive=True)
    bound = math.inf
    for block in _blocks(arr.reshape(-1, *arr.shape[-2:])):
        diag = osmosis_matrix(block, h).diagonal()
        bound = min(bound, 1.0 / float(np.abs(diag).max()))
    return bound


def _blocks(images: np.ndarray):
    per = max(1, MAX_UNKNOWNS // (images.shape[-1] * images.shape[-2]))
    for start in range(0, images.shape[0], per):
        yield images[start:start + per]


def osmosis(f: torch.Tensor, v: torch.Tensor, tau: float, steps: int, scheme: str = "implicit", h: float = 1.0,
            record: list[int] | None = None) -> torch.Tensor:
    """Osmosis from f towards guidance v, images [B, C, H, W] > 0: implicit (I - tau A) u^{k+1} = u^k (sparse LU, one
    factorisation per image-channel) or explicit u^{k+1} = (I + tau A) u^k (tau <= 1/max|A_ii|).

    Returns u^steps [B, C, H, W] (float64), or with `record` (a list of step counts) the stack [len(record), B, C, H, W].
    """
    from scipy.sparse import identity
    from scipy.sparse.linalg import splu

    if scheme not in SCHEMES:
        raise ValueError(f"scheme: choose one of {', '.join(SCHEMES)}, got {scheme!r}")
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau: need a positive finite time step, got {tau}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps: need a non-negative integer, got {steps!r}")
    steps = int(steps)
    fa, va = _check_images(f, "f", positive=True), _check_images(v, "v", positive=True)
    if fa.shape != va.shape:
        raise ValueError(f"v: shape {va.shape} differs from f's {fa.shape}")
    marks = [steps] if record is None else [int(r) for r in record]
    if any(r < 0 or r > steps for r in marks):
        raise ValueError(f"record: step counts must lie in [0, {steps}], got {marks}")
    if scheme == "explicit":
        bound = osmosis_stability_bound(v, h)
        if tau > bound:
            raise ValueError(f"tau={tau:g} exceeds the explicit osmosis stability bound tau <= {bound:.6g} "
                             f"(1 / max |A_ii|); use scheme='implicit' or a smaller tau")
    B, C, H, W = fa.shape
    fa, va = fa.reshape(B * C, H, W), va.reshape(B * C, H, W)
    out = np.empty((len(marks), B * C, H, W))
    start = 0
    for fb, vb in zip(_blocks(fa), _blocks(va)):
        A = osmosis_matrix(vb, h)
        if scheme == "implicit":
            lu = splu((identity(A.shape[0], format="csc") - tau * A).tocsc())
            step = lu.solve
        else:
            step = lambda u, A=A: u + tau * (A @ u)   # noqa: E731
        u = fb.reshape(-1).copy()
        for k in range(steps + 1):
            for m, mark in enumerate(marks):
                if mark == k:
                    out[m, start:start + len(fb)] = u.reshape(fb.shape)
            if k < steps:
                u = step(u)
        start += len(fb)
    result = torch.from_numpy(out.reshape(len(marks), B, C, H, W))
    return result[0] if record is None else result


def homogeneous_diffusion(f: torch.Tensor, t: float, spectrum: str = "continuous", h: float = 1.0) -> torch.Tensor:
    """Exact heat equation u_t = Lap u with reflecting boundaries: u(t) = C^T diag(exp(-lambda_pq t)) C f per channel.

    spectrum="continuous" uses lambda = (pi p/(H h))^2 + (pi q/(W h))^2 (the heat-blur kernel's mean);
    "discrete" uses the 5-point Laplacian's (4/h^2)(sin^2(pi p/2H) + sin^2(pi q/2W)), i.e. osmosis with d = 0 as tau -> 0.
    """
    if not isinstance(f, torch.Tensor) or f.dim() != 4:
        raise ValueError(f"f: need a tensor [B, C, H, W], got {getattr(f, 'shape', type(f))}")
    t = float(t)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"t: need a finite diffusion time t >= 0, got {t}")
    lam = laplacian_eigenvalues(f.shape[-2], f.shape[-1], spectrum, h)
    return dct_filter(f, torch.exp(-lam * t))


def relative_entropy(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Osmosis Lyapunov functional sum_x u ln(u / v) per image-channel, [B, C] (u, v > 0)."""
    u, v = u.to(F64), v.to(F64)
    if u.shape != v.shape or u.dim() != 4:
        raise ValueError(f"u, v: need equal shapes [B, C, H, W], got {tuple(u.shape)} and {tuple(v.shape)}")
    return (u * torch.log(u / v)).sum(dim=(-2, -1))
