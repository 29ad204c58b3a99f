"""Orthonormal 2-D DCT-II per channel and the Neumann (reflecting-boundary) Laplacian spectrum it diagonalises."""

from __future__ import annotations

import math

import torch

F64 = torch.float64
SPECTRA = ("continuous", "discrete")


def dct_matrix(N: int, dtype=F64) -> torch.Tensor:
    """Orthonormal DCT-II matrix C[k, j] = sqrt(2/N) c_k cos(pi (2j + 1) k / (2N)), c_0 = 1/sqrt(2), so C C^T = I."""
    if int(N) != N or N < 1:
        raise ValueError(f"N: need a positive integer size, got {N!r}")
    k = torch.arange(N, dtype=F64)[:, None]
    j = torch.arange(N, dtype=F64)[None, :]
    C = math.sqrt(2.0 / N) * torch.cos(math.pi * (2.0 * j + 1.0) * k / (2.0 * N))
    C[0] /= math.sqrt(2.0)
    return C.to(dtype)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """2-D DCT-II over the last two axes: X = C_H x C_W^T (float64)."""
    x = x.to(F64)
    CH, CW = dct_matrix(x.shape[-2]).to(x.device), dct_matrix(x.shape[-1]).to(x.device)
    return CH @ x @ CW.T


def idct2(X: torch.Tensor) -> torch.Tensor:
    """Inverse of dct2: x = C_H^T X C_W (float64)."""
    X = X.to(F64)
    CH, CW = dct_matrix(X.shape[-2]).to(X.device), dct_matrix(X.shape[-1]).to(X.device)
    return CH.T @ X @ CW


def laplacian_eigenvalues(H: int, W: int, spectrum: str = "continuous", h: float = 1.0) -> torch.Tensor:
    """lambda_pq >= 0 of -Laplace with reflecting boundaries in the DCT basis, shape [H, W].

    continuous: (pi p / (H h))^2 + (pi q / (W h))^2 (exact heat equation on the pixel-centred cosine basis);
    discrete: (4 / h^2) (sin^2(pi p / (2H)) + sin^2(pi q / (2W))) (the 5-point finite-difference Laplacian).
    """
    if spectrum not in SPECTRA:
        raise ValueError(f"spectrum: choose one of {', '.join(SPECTRA)}, got {spectrum!r}")
    if not h > 0:
        raise ValueError(f"h: need a positive grid size, got {h}")
    p = torch.arange(H, dtype=F64)[:, None]
    q = torch.arange(W, dtype=F64)[None, :]
    if spectrum == "continuous":
        return (math.pi * p / (H * h)) ** 2 + (math.pi * q / (W * h)) ** 2
    return (4.0 / h**2) * (torch.sin(math.pi * p / (2 * H)) ** 2 + torch.sin(math.pi * q / (2 * W)) ** 2)


def dct_filter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Apply the DCT-diagonal operator C^T diag(factors) C per channel: idct2(factors * dct2(x))."""
    return idct2(factors.to(device=x.device, dtype=F64) * dct2(x))
