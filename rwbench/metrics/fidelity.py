"""FID, KID and precision/recall on extracted features, computed by torch-fidelity's own metric functions."""

from __future__ import annotations

import math

import numpy as np
import torch


def feature_statistics(features: torch.Tensor) -> dict[str, np.ndarray]:
    """FID statistics of features [N, D]: mu = mean, sigma = unbiased covariance (float64, torch-fidelity)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    if features.dim() != 2 or len(features) < 2:
        raise ValueError(f"features: need [N >= 2, D], got {tuple(features.shape)}")
    stats = fid_features_to_statistics(features.detach().cpu().to(torch.float64))
    return {"mu": np.asarray(stats["mu"], dtype=np.float64), "sigma": np.atleast_2d(stats["sigma"]).astype(np.float64)}


def fid_from_statistics(stats_1: dict, stats_2: dict) -> float:
    """FID = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}) via torch_fidelity.metric_fid.fid_statistics_to_metric."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    s1 = {"mu": np.asarray(stats_1["mu"], np.float64), "sigma": np.asarray(stats_1["sigma"], np.float64)}
    s2 = {"mu": np.asarray(stats_2["mu"], np.float64), "sigma": np.asarray(stats_2["sigma"], np.float64)}
    if s1["mu"].shape != s2["mu"].shape:
        raise ValueError(f"statistics: feature dimensions differ ({s1['mu'].shape} vs {s2['mu'].shape})")
    return float(fid_statistics_to_metric(s1, s2, False)[KEY_METRIC_FID])


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance of N(mu1, S1) and N(mu2, S2): ||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrtm(S1 S2)) (scipy sqrtm)."""
    from scipy import linalg

    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def psd_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with round-off removed: those below n eps max|w| (and negative ones) set to 0, so a
    rank-deficient covariance's null space adds no sqrt(eps)-sized terms to a trace of a square root."""
    w = np.asarray(w, np.float64)
    if w.size == 0:
        return w
    tol = w.size * np.finfo(np.float64).eps * float(np.abs(w).max())
    return np.where(w > tol, w, 0.0)


def frechet_distance_symmetric(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance with tr (S1 S2)^{1/2} = sum sqrt(eig(S1^{1/2} S2 S1^{1/2})) (symmetric eigh, PSD-clipped)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(psd_eigenvalues(w))) @ v.T
    inner = np.linalg.eigvalsh(root @ sigma2 @ root)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.sqrt(psd_eigenvalues(inner)).sum())


def kid(features_1: torch.Tensor, features_2: torch.Tensor, subset_size: int | None = None,
        subsets: int = 100, seed: int = 2020) -> tuple[float, float, int]:
    """KID: unbiased MMD^2 with k(x,y) = (x.y/D + 1)^3 over random subsets (torch-fidelity); (mean, std, subset size)."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    largest = min(len(features_1), len(features_2))
    size = min(1000, largest) if subset_size is None else int(subset_size)
    if not 2 <= size <= largest:
        raise ValueError(f"--kid-subset-size {size}: must be in [2, {largest}] (the smaller of the two sample counts)")
    out = kid_features_to_metric(features_1.detach().cpu().to(torch.float64), features_2.detach().cpu().to(torch.float64),
                                 kid_subsets=int(subsets), kid_subset_size=size, rng_seed=int(seed), verbose=False)
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD]), size


def precision_recall(features_gen: torch.Tensor, features_ref: torch.Tensor, neighborhood: int = 3) -> dict[str, float]:
    """Improved precision/recall (Kynkaanniemi et al. 2019, k-NN balls) via torch-fidelity's prc_features_to_metric."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    if min(len(features_gen), len(features_ref)) <= neighborhood:
        raise ValueError(f"precision/recall: need more than {neighborhood} samples on both sides")
    out = prc_features_to_metric(features_gen.detach().cpu().float(), features_ref.detach().cpu().float(),
                                 prc_neighborhood=int(neighborhood), save_cpu_ram=True, verbose=False)
    return {"precision": float(out["precision"]), "recall": float(out["recall"]), "f_score": float(out["f_score"])}


def classifier_statistics(logits: torch.Tensor, threshold: float = 0.9) -> dict[str, float]:
    """Confident share = mean(max softmax >= threshold); class entropy = -sum_c h_c log h_c of the argmax histogram (nats)."""
    if logits.dim() != 2 or len(logits) == 0:
        raise ValueError(f"logits: need [N >= 1, classes], got {tuple(logits.shape)}")
    probs = torch.softmax(logits.double(), dim=1)
    confident = (probs.max(dim=1).values >= threshold).double().mean().item()
    hist = torch.bincount(probs.argmax(dim=1), minlength=logits.shape[1]).double()
    hist = hist / hist.sum()
    nonzero = hist[hist > 0]
    entropy = float(-(nonzero * nonzero.log()).sum().item())
    return {"confident_share": confident, "class_entropy": entropy, "class_entropy_max": math.log(logits.shape[1])}
