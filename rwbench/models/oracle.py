"""Fit the exact Gaussian-mixture oracle prior (EM, scikit-learn GaussianMixture, full covariances) to an image set,
draw its exact reference samples, and name the files of an oracle folder (written by `rwbench prepare`, read by
rwbench.models.embedded.load_oracle)."""

from __future__ import annotations

from pathlib import Path

import torch

from rwbench.models.denoisers import GaussianMixtureDenoiser


def oracle_file(folder, dataset: str) -> Path:
    """Path of a fitted oracle: <folder>/<dataset>-gmm.safetensors."""
    return Path(folder) / f"{dataset}-gmm.safetensors"


def reference_file(folder, dataset: str) -> Path:
    """Path of an oracle's exact reference samples (uint8): <folder>/<dataset>-oracle-reference.safetensors."""
    return Path(folder) / f"{dataset}-oracle-reference.safetensors"


def fit_gmm(images: torch.Tensor, n_components: int, reg_covar: float = 1e-3, seed: int = 0, *,
            max_iter: int = 200, return_info: bool = False):
    """EM fit of sum_j w_j N(m_j, C_j + reg_covar I) to float images [N, C, H, W]; returns a GaussianMixtureDenoiser."""
    from sklearn.mixture import GaussianMixture

    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"images: need float [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    if int(n_components) != n_components or not 1 <= n_components <= images.shape[0]:
        raise ValueError(f"n_components: need an integer in [1, {images.shape[0]}], got {n_components!r}")
    if not reg_covar > 0:
        raise ValueError(f"reg_covar: need a positive covariance regularisation, got {reg_covar}")
    flat = images.reshape(images.shape[0], -1).to(torch.float64).cpu().numpy()
    gm = GaussianMixture(n_components=int(n_components), covariance_type="full", reg_covar=float(reg_covar),
                         max_iter=int(max_iter), random_state=int(seed), init_params="kmeans")
    gm.fit(flat)
    oracle = GaussianMixtureDenoiser(torch.from_numpy(gm.weights_), torch.from_numpy(gm.means_),
                                     torch.from_numpy(gm.covariances_), sample_shape=tuple(images.shape[1:]))
    if not return_info:
        return oracle
    info = dict(n_components=int(n_components), reg_covar=float(reg_covar), seed=int(seed), max_iter=int(max_iter),
                converged=bool(gm.converged_), n_iter=int(gm.n_iter_), mean_log_likelihood=float(gm.score(flat)),
                n_train=int(flat.shape[0]), dim=int(flat.shape[1]))
    return oracle, info


def oracle_samples_uint8(oracle: GaussianMixtureDenoiser, n: int, seed: int, data_range=(0.0, 1.0)) -> torch.Tensor:
    """n exact draws from the mixture, converted with to_uint8 (clamp, round): the oracle benchmark's reference set."""
    from rwbench.data import to_uint8

    g = torch.Generator().manual_seed(int(seed))
    return to_uint8(oracle.sample(int(n), generator=g), data_range)


def component_log_likelihoods(oracle: GaussianMixtureDenoiser, x: torch.Tensor) -> torch.Tensor:
    """log w_j + log N(x; m_j, C_j) of noise-free points x [B, ...] for every component j, [B, J] (float64)."""
    import math

    if torch.any(oracle.eigvals <= 0):
        raise ValueError("oracle: a component covariance is singular; the noise-free density does not exist "
                         "(fit with reg_covar > 0)")
    y = x.reshape(x.shape[0], -1).to(torch.float64)
    if y.shape[1] != oracle.dim:
        raise ValueError(f"x: oracle of dimension {oracle.dim} got {y.shape[1]} values per sample")
    out = []
    logdet = torch.log(oracle.eigvals).sum(-1)                                   # [J]
    for start in range(0, len(y), 512):                                          # chunks bound the [b, J, d] buffer
        diff = y[start:start + 512, None, :] - oracle.means[None]                # [b, J, d]
        proj = torch.einsum("bjd,jde->bje", diff, oracle.eigvecs)                # eigen coordinates
        maha = (proj * proj / oracle.eigvals[None]).sum(-1)                      # [b, J]
        out.append(oracle.log_weights - 0.5 * (maha + logdet + oracle.dim * math.log(2 * math.pi)))
    return torch.cat(out)


def mixture_log_density(oracle: GaussianMixtureDenoiser, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = logsumexp_j (log w_j + log N(x; m_j, C_j)) of the noise-free mixture, [B]."""
    return torch.logsumexp(component_log_likelihoods(oracle, x), dim=-1)


def mixture_responsibilities(oracle: GaussianMixtureDenoiser, x: torch.Tensor) -> torch.Tensor:
    """p(component j | x) of the noise-free mixture, [B, J]; E_p[r_j(X)] = w_j exactly for X ~ p."""
    return torch.softmax(component_log_likelihoods(oracle, x), dim=-1)


def noised_moments(oracle: GaussianMixtureDenoiser, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [d] and covariance [d, d] of p_sigma = sum_j w_j N(m_j, C_j + sigma^2 I) (float64)."""
    mu = oracle.mean
    diff = oracle.means - mu
    cov = torch.einsum("j,jde->de", oracle.weights, oracle.covs + diff[:, :, None] * diff[:, None, :])
    return mu, cov + float(sigma) ** 2 * torch.eye(oracle.dim, dtype=cov.dtype)


def noised_sample(oracle: GaussianMixtureDenoiser, sigma: float, z: torch.Tensor, generators) -> torch.Tensor:
    """Exact draws of p_sigma, one per image: x_b = m_j + U_j diag(sqrt(lambda_j + sigma^2)) U_j^T z_b with component
    j ~ Categorical(w) from image b's generator (`generators`, one per image) and z_b ~ N(0, I) its given normal draw
    (the sampler's x_T, so the exact start is a function of the same draw as the noise start). Float64, z's shape."""
    if not float(sigma) >= 0:
        raise ValueError(f"sigma: need a noise level >= 0, got {sigma}")
    if len(generators) != z.shape[0]:
        raise ValueError(f"generators: need one per image ({z.shape[0]}), got {len(generators)}")
    flat = z.reshape(z.shape[0], -1).to(torch.float64).cpu()
    if flat.shape[1] != oracle.dim:
        raise ValueError(f"z: oracle of dimension {oracle.dim} got {flat.shape[1]} values per image")
    comps = torch.cat([torch.multinomial(oracle.weights, 1, generator=g) for g in generators])
    U = oracle.eigvecs[comps]                                                     # [B, d, d]
    scale = (oracle.eigvals[comps] + float(sigma) ** 2).sqrt()                    # [B, d]
    x = oracle.means[comps] + torch.einsum("bde,be->bd", U, scale * torch.einsum("bde,bd->be", U, flat))
    return x.reshape(z.shape).to(z.device)
