"""Exact posterior of a Gaussian-mixture prior under y = A x + eta n: again a Gaussian mixture (Kalman update per component)."""

from __future__ import annotations

import math

import torch

from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.tasks.operators import LinearOperator
from rwbench.core.conditional import check_eta

F64 = torch.float64


def dense_operator(operator: LinearOperator | torch.Tensor, shape, index: int = 0) -> torch.Tensor:
    """A as a dense float64 matrix [m, d]: a given matrix, or operator.dense(shape, index) for image `index`."""
    if isinstance(operator, torch.Tensor):
        if operator.ndim != 2:
            raise ValueError(f"operator: need a matrix [m, d], got shape {tuple(operator.shape)}")
        return operator.to(F64)
    return operator.dense(shape, index)


def gmm_posterior(prior: GaussianMixtureDenoiser, A: torch.Tensor, y: torch.Tensor, eta: float) -> GaussianMixtureDenoiser:
    """p(x | y) for x ~ sum_j w_j N(m_j, C_j), y = A x + eta n: weights ∝ w_j N(y; A m_j, A C_j A^T + eta^2 I),
    means m_j + K_j (y - A m_j), covariances (I - K_j A) C_j (I - K_j A)^T + eta^2 K_j K_j^T (Joseph form),
    K_j = C_j A^T (A C_j A^T + eta^2 I)^-1."""
    weights, post_means, post_covs, log_evidence = gmm_posterior_parts(prior, A, y, eta)
    post = GaussianMixtureDenoiser(weights, post_means, post_covs, sample_shape=prior.sample_shape)
    post.log_evidence = log_evidence         # log p(y)
    return post


def gmm_posterior_parts(prior: GaussianMixtureDenoiser, A: torch.Tensor, y: torch.Tensor,
                        eta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """(weights [J], means [J, d], covariances [J, d, d], log p(y)) of gmm_posterior, without building its denoiser
    (no eigendecompositions: what a caller needs that only reads the moments)."""
    eta = check_eta(eta)
    A = torch.as_tensor(A, dtype=F64)
    d = prior.dim
    if A.ndim != 2 or A.shape[1] != d:
        raise ValueError(f"A: need a matrix [m, {d}] for a prior of dimension {d}, got shape {tuple(A.shape)}")
    m = A.shape[0]
    y = torch.as_tensor(y, dtype=F64).reshape(-1)
    if y.numel() != m:
        raise ValueError(f"y: need {m} measurement values for A of shape {tuple(A.shape)}, got {y.numel()}")
    means, covs = prior.means, prior.covs                          # [J, d], [J, d, d]
    CAt = covs @ A.T                                               # [J, d, m]
    S = A @ CAt + (eta * eta) * torch.eye(m, dtype=F64)            # [J, m, m]
    L = torch.linalg.cholesky(0.5 * (S + S.transpose(1, 2)))
    resid = y[None, :] - means @ A.T                               # [J, m]
    sol = torch.cholesky_solve(resid[..., None], L)[..., 0]        # S^-1 (y - A m_j)
    logdet = 2 * torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum(-1)
    loglik = -0.5 * ((resid * sol).sum(-1) + logdet + m * math.log(2 * math.pi))
    log_w = prior.log_weights + loglik
    weights = torch.softmax(log_w, 0)
    K = torch.cholesky_solve(CAt.transpose(1, 2), L).transpose(1, 2)   # C A^T S^-1 (S symmetric), [J, d, m]
    post_means = means + torch.einsum("jdm,jm->jd", K, resid)
    IKA = torch.eye(d, dtype=F64)[None] - K @ A                   # [J, d, d]
    post_covs = IKA @ covs @ IKA.transpose(1, 2) + (eta * eta) * K @ K.transpose(1, 2)
    return weights.clamp(min=0), post_means, post_covs, float(torch.logsumexp(log_w, 0))


def batch_posteriors(prior: GaussianMixtureDenoiser, operator: LinearOperator | torch.Tensor, y: torch.Tensor, eta: float,
                     groups=None) -> list[GaussianMixtureDenoiser]:
    """One exact posterior per measurement y[i] (image i's own operator, e.g. its own inpainting mask). `groups[i]`
    (optional) labels images that share their operator and measurement (the draws of one inverse-problem target):
    each group's posterior is computed once, from its first image, and shared."""
    shape = prior.sample_shape
    per_image = not isinstance(operator, torch.Tensor) and (operator.n_images or 1) > 1
    if per_image and operator.n_images != y.shape[0]:
        raise ValueError(f"y: operator holds {operator.n_images} images, got {y.shape[0]} measurements")
    labels = list(range(y.shape[0])) if groups is None else [int(g) for g in groups]
    if len(labels) != y.shape[0]:
        raise ValueError(f"groups: need one label per measurement ({y.shape[0]}), got {len(labels)}")
    posts: dict[int, GaussianMixtureDenoiser] = {}
    for i, label in enumerate(labels):
        if label not in posts:
            posts[label] = gmm_posterior(prior, dense_operator(operator, shape, i if per_image else 0), y[i], eta)
    return [posts[label] for label in labels]


def posterior_mean(post: GaussianMixtureDenoiser) -> torch.Tensor:
    """Exact MMSE estimate E[X | y] = sum_j w_j mu_j, shaped like one sample."""
    return post.mean.reshape(post.sample_shape)


def posterior_variance(post: GaussianMixtureDenoiser) -> torch.Tensor:
    """Exact per-coordinate Var[X | y] = sum_j w_j (diag P_j + mu_j^2) - mean^2, shaped like one sample."""
    second = (post.weights[:, None] * (torch.diagonal(post.covs, dim1=1, dim2=2) + post.means**2)).sum(0)
    return (second - post.mean**2).reshape(post.sample_shape)


__all__ = ["gmm_posterior", "gmm_posterior_parts", "batch_posteriors", "dense_operator", "posterior_mean", "posterior_variance"]
