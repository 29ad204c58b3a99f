"""FID, KID and precision/recall on extracted features (FID/KID: the one path SetMetrics; precision/recall and the
statistics helpers via torch-fidelity's own metric functions)."""

from __future__ import annotations

import math

import numpy as np
import torch

from rwbench.metrics.registry import CONFIDENT


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


def precision_recall(features_gen: torch.Tensor, features_ref: torch.Tensor, neighborhood: int = 3) -> dict[str, float]:
    """Improved precision/recall (Kynkaanniemi et al. 2019, k-NN balls) via torch-fidelity's prc_features_to_metric."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    if min(len(features_gen), len(features_ref)) <= neighborhood:
        raise ValueError(f"precision/recall: need more than {neighborhood} samples on both sides")
    out = prc_features_to_metric(features_gen.detach().cpu().float(), features_ref.detach().cpu().float(),
                                 prc_neighborhood=int(neighborhood), save_cpu_ram=True, verbose=False)
    return {"precision": float(out["precision"]), "recall": float(out["recall"]), "f_score": float(out["f_score"])}


def classifier_statistics(logits: torch.Tensor, threshold: float = CONFIDENT) -> dict[str, float]:
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


# ---------------------------------------------------------------- the one FID / KID path (rwbench.metrics.fidelity)
# Every FID and KID in rwbench (evaluate, floors, the scale-space FID, the quality benchmark, bootstrap replicates of
# the comparisons table) is SetMetrics(features, reference)(counts): features of generated images in the extractor's
# normalised space against fixed reference statistics (mu, sigma, features; rwbench.metrics.reference).


def _np64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def weighted_statistics(features, counts=None) -> dict[str, np.ndarray]:
    """mu and unbiased covariance of the multiset holding row i of features [n, D] counts[i] times (float64)."""
    x = _np64(features)
    if x.ndim != 2:
        raise ValueError(f"features: need [n, D], got shape {x.shape}")
    w = np.ones(len(x)) if counts is None else _np64(counts).reshape(-1)
    if w.shape != (len(x),) or np.any(w < 0):
        raise ValueError(f"counts: need {len(x)} non-negative multiplicities, got shape {w.shape}")
    total = w.sum()
    if total < 2:
        raise ValueError(f"features: need at least 2 images (with multiplicity), got {total:g}")
    mu = w @ x / total
    centred = x - mu
    sigma = (centred * w[:, None]).T @ centred / (total - 1.0)
    return {"mu": mu, "sigma": sigma}


def cubic_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's polynomial kernel k(x, y) = (x . y / D + 1)^3 between rows of a [n, D] and b [m, D]."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def reference_terms(reference: dict) -> dict:
    """Quantities of the fixed reference that every FID / KID against it reuses, memoised in `reference`:
    root = S_ref^{1/2} (PSD-clipped eigh), trace = tr S_ref, kid_yy = mean_{a != b} k(y_a, y_b) over its features."""
    if "_terms" not in reference:
        mu, sigma = _np64(reference["mu"]), np.atleast_2d(_np64(reference["sigma"]))
        w, v = np.linalg.eigh(sigma)
        root = (v * np.sqrt(psd_eigenvalues(w))) @ v.T
        y = _np64(reference["features"])
        m = len(y)
        if m < 2:
            raise ValueError("reference: need at least 2 reference feature rows for KID")
        kyy = reference.get("kid_yy")
        if kyy is None:
            K = cubic_kernel(y, y)
            kyy = float((K.sum() - np.trace(K)) / (m * (m - 1)))
        reference["_terms"] = {"mu": mu, "sigma": sigma, "root": root, "trace": float(np.trace(sigma)),
                               "features": y, "kid_yy": float(kyy), "n_ref": int(m)}
    return reference["_terms"]


class SetMetrics:
    """FID and KID of one feature set [n, D] against fixed reference statistics, for the set or any reweighting of it.

    FID = ||mu - mu_r||^2 + tr S + tr S_r - 2 sum sqrt(eig(S_r^{1/2} S S_r^{1/2})) (Frechet distance, symmetric eigh).
    KID = unbiased MMD^2 with k(x, y) = (x . y / D + 1)^3 over ALL n generated x ALL m reference images:
          mean_{i != j} k(x_i, x_j) + mean_{a != b} k(y_a, y_b) - 2 mean_{i, a} k(x_i, y_a)  (no random subsets).
    counts (a bootstrap resample as multiplicities, bincount(I*, minlength=n)): FID of the multiset; KID with the pairs
    of two copies of one image left out of the x-x term (a weighted U-statistic, so duplicates add no self-similarity;
    NaN for a multiset of one distinct image). replicate_interval drops NaN replicates.
    """

    def __init__(self, features, reference: dict):
        self.x = _np64(features)
        if self.x.ndim != 2 or len(self.x) < 2:
            raise ValueError(f"features: need [n >= 2, D], got shape {self.x.shape}")
        self.ref = reference_terms(reference)
        if self.ref["mu"].shape != (self.x.shape[1],):
            raise ValueError(f"features: dimension {self.x.shape[1]} differs from the reference's {self.ref['mu'].shape}")
        self.n, self.n_ref = len(self.x), self.ref["n_ref"]
        self.kxx = cubic_kernel(self.x, self.x)
        self.kxy = cubic_kernel(self.x, self.ref["features"]).mean(axis=1)

    def fid(self, counts=None) -> float:
        """Frechet distance of the (reweighted) set's Gaussian fit to the reference statistics."""
        stats = weighted_statistics(self.x, counts)
        root = self.ref["root"]
        inner = np.linalg.eigvalsh(root @ stats["sigma"] @ root)
        diff = stats["mu"] - self.ref["mu"]
        return float(diff @ diff + np.trace(stats["sigma"]) + self.ref["trace"]
                     - 2.0 * np.sqrt(psd_eigenvalues(inner)).sum())

    def kid(self, counts=None) -> float:
        """Unbiased MMD^2 (cubic kernel) of the (reweighted) set against all reference features."""
        c = np.ones(self.n) if counts is None else _np64(counts).reshape(-1)
        total = c.sum()
        pairs = total * total - (c * c).sum()
        if pairs <= 0:   # a resample of one distinct image: the x-x term has no pair
            return float("nan")
        xx = (c @ self.kxx @ c - (c * c) @ np.diag(self.kxx)) / pairs
        return float(xx + self.ref["kid_yy"] - 2.0 * (c @ self.kxy) / total)

    def __call__(self, counts=None) -> dict[str, float]:
        """{"fid", "kid"} of the set (or of the multiset given by counts)."""
        return {"fid": self.fid(counts), "kid": self.kid(counts)}

    def replicates(self, counts) -> dict[str, np.ndarray]:
        """{"fid": [B], "kid": [B]} for B multisets counts [B, n] at once (the same numbers as calling with each row)."""
        c = _np64(counts)
        if c.ndim != 2 or c.shape[1] != self.n:
            raise ValueError(f"counts: need [B, {self.n}] multiplicities, got shape {c.shape}")
        total = c.sum(axis=1)
        # KID: weighted U-statistic per row
        pairs = total * total - (c * c).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):   # NaN where a row holds one distinct image
            xx = np.where(pairs > 0, (((c @ self.kxx) * c).sum(axis=1) - (c * c) @ np.diag(self.kxx)) / pairs, np.nan)
        kid = xx + self.ref["kid_yy"] - 2.0 * (c @ self.kxy) / total
        if self.n < self.x.shape[1]:   # few images, many features: the Gram route of fid(), row by row
            return {"fid": np.array([self.fid(row) for row in c]), "kid": kid}
        # FID: S_b = (X' diag(c) X - N m m') / (N - 1); eig(R S_b R) from Y = X R, batched over rows
        y = self.x @ self.ref["root"]
        mean_x, mean_y = (c @ self.x) / total[:, None], (c @ y) / total[:, None]
        scatter = np.matmul(y.T[None] * c[:, None, :], y) - total[:, None, None] * mean_y[:, :, None] * mean_y[:, None, :]
        inner = np.linalg.eigvalsh(scatter / (total - 1.0)[:, None, None])
        sqrt_sum = np.array([np.sqrt(psd_eigenvalues(w)).sum() for w in inner])
        trace = ((c @ (self.x * self.x).sum(axis=1)) - total * (mean_x * mean_x).sum(axis=1)) / (total - 1.0)
        diff = mean_x - self.ref["mu"]
        fid = (diff * diff).sum(axis=1) + trace + self.ref["trace"] - 2.0 * sqrt_sum
        return {"fid": fid, "kid": kid}


def reference_from_features(features) -> dict:
    """Reference statistics {mu, sigma, features, count} of a feature matrix [m, D] (for references built in memory)."""
    x = _np64(features)
    stats = weighted_statistics(x)
    return {"mu": stats["mu"], "sigma": stats["sigma"], "features": x, "count": int(len(x))}


def set_metrics(features, reference: dict, counts=None) -> dict[str, float]:
    """FID and KID of features [n, D] (normalised extractor space) against reference statistics; see SetMetrics."""
    return SetMetrics(features, reference)(counts)
