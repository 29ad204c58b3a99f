"""Exact-answer metrics of oracle cells (no feature network): the samples against the known Gaussian mixture p.

- energy_distance: 2 E|X-Y| - E|X-X'| - E|Y-Y'| (U-statistics, rwbench.metrics.distances) of the samples' uint8 images against
  the oracle's exact reference draws (the same to_uint8 conversion, pixels on [0, 1]); 0 in expectation for exact draws.
- occupancy_tv: total variation 1/2 sum_j |h_j - w_j| between the soft component occupancy h_j = mean_i r_j(x_i)
  (r_j = p(component j | x), noise-free mixture, float samples) and the mixture weights w_j. E_p[r_j(X)] = w_j exactly,
  so the signed gaps h_j - w_j centre on 0 for exact draws; the TV itself is >= 0 with a small finite-n floor
  (results/floors.csv, exact draws at the same n).
- logp_gap: mean_i log p(x_i) / D - E_p[log p(X)] / D in nats per pixel (D = pixels): < 0 samples sit where p is low
  (too spread / off-manifold), > 0 too concentrated on high-density regions (cold sampling). E_p[log p] = -H(p) by
  Monte Carlo from exact draws (ENTROPY_DRAWS, fixed seed), cached per oracle file; its MC error joins the se.
Every metric also accepts bootstrap multiplicities `counts` (rwbench.metrics.fidelity.SetMetrics does the same).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from rwbench.io import read_json, write_json

F64 = torch.float64
ENTROPY_DRAWS = 8000      # MC se of E_p[log p] / D about 0.0006 nats per pixel on the digits oracle
ENTROPY_SEED = 7_919_017   # not prepare's reference seed: these draws are independent of the reference file
EXACT_METRICS = ("energy_distance", "occupancy_tv", "logp_gap")


def oracle_for(spec: dict):
    """The fitted mixture of an oracle run (spec family 'oracle': <checkpoint>/<dataset>-gmm.safetensors)."""
    from rwbench.models.embedded import load_oracle

    if spec.get("family") != "oracle":
        raise ValueError(f"spec family {spec.get('family')!r}: exact metrics need an oracle model")
    return load_oracle(spec["dataset"], spec.get("checkpoint"))


def oracle_digest(oracle) -> str:
    """sha256 (hex) of a mixture's weights, means and covariances (float64 bytes): keys the exact-metric cache."""
    import hashlib

    digest = hashlib.sha256()
    for tensor in (oracle.weights, oracle.means, oracle.covs):
        digest.update(tensor.detach().cpu().to(F64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def _pixels(images_uint8: torch.Tensor) -> torch.Tensor:
    from rwbench.data import from_uint8

    return from_uint8(images_uint8, dtype=F64).reshape(len(images_uint8), -1)


def reference_constants(oracle, reference_uint8: torch.Tensor, cache: str | Path | None = None) -> dict:
    """E_p[log p] / D by Monte Carlo (mean, sd per draw, draws) and the reference's E|Y-Y'|, cached in `cache` (JSON)."""
    from rwbench.models.oracle import mixture_log_density
    from rwbench.metrics.distances import mean_pairwise_distance

    if cache is not None and Path(cache).is_file():
        return read_json(cache)
    g = torch.Generator().manual_seed(ENTROPY_SEED)
    draws = oracle.sample(ENTROPY_DRAWS, generator=g)
    logp = mixture_log_density(oracle, draws) / oracle.dim
    out = {"logp_mean": float(logp.mean()), "logp_sd": float(logp.std()), "logp_draws": ENTROPY_DRAWS,
           "logp_seed": ENTROPY_SEED, "energy_yy": mean_pairwise_distance(_pixels(reference_uint8)),
           "n_ref": int(len(reference_uint8))}
    if cache is not None:
        write_json(cache, out)
    return out


class ExactMetrics:
    """energy_distance, occupancy_tv and logp_gap of n samples of an oracle cell; call with bootstrap counts or None."""

    def __init__(self, oracle, samples: torch.Tensor, samples_uint8: torch.Tensor, reference_uint8: torch.Tensor,
                 constants: dict):
        from rwbench.models.oracle import mixture_log_density, mixture_responsibilities
        from rwbench.metrics.distances import pairwise_distances

        if len(samples) != len(samples_uint8) or len(samples) < 2:
            raise ValueError(f"samples: need n >= 2 float and uint8 images of the same n, got {len(samples)} and "
                             f"{len(samples_uint8)}")
        x = samples.to(F64)
        self.n, self.n_ref = len(x), int(len(reference_uint8))
        self.weights = oracle.weights.to(F64).cpu()
        self.responsibility = mixture_responsibilities(oracle, x).cpu()                 # [n, J]
        self.log_density = (mixture_log_density(oracle, x) / oracle.dim).cpu()          # [n] nats per pixel
        pix, ref = _pixels(samples_uint8), _pixels(reference_uint8)
        # E_a |x_i - y_a| [n] and |x_i - x_j| [n, n]; the reference's own E|Y - Y'| comes from `constants`
        self.cross, self.within = pairwise_distances(pix, ref).mean(dim=1), pairwise_distances(pix, pix)
        self.constants = constants

    def _counts(self, counts) -> torch.Tensor:
        c = torch.ones(self.n, dtype=F64) if counts is None else torch.as_tensor(counts, dtype=F64).reshape(-1)
        if c.shape != (self.n,):
            raise ValueError(f"counts: need {self.n} multiplicities, got shape {tuple(c.shape)}")
        return c

    def energy_distance(self, counts=None) -> float:
        """Energy distance (U-statistic) of the samples' uint8 images to the exact reference draws."""
        from rwbench.metrics.distances import energy_from_parts

        return energy_from_parts(self.cross, self.within, self.constants["energy_yy"], counts)

    def occupancy(self, counts=None) -> torch.Tensor:
        """Soft component occupancy h_j = weighted mean of r_j(x_i), [J]."""
        c = self._counts(counts)
        return (c @ self.responsibility) / c.sum()

    def occupancy_tv(self, counts=None) -> float:
        """1/2 sum_j |h_j - w_j|."""
        return float(0.5 * (self.occupancy(counts) - self.weights).abs().sum())

    def logp_gap(self, counts=None) -> float:
        """mean log p(x_i) / D - E_p[log p] / D (nats per pixel)."""
        c = self._counts(counts)
        return float((c @ self.log_density) / c.sum() - self.constants["logp_mean"])

    def logp_mc_se(self) -> float:
        """Monte Carlo standard error of the E_p[log p] / D estimate inside logp_gap."""
        return self.constants["logp_sd"] / math.sqrt(self.constants["logp_draws"])

    def __call__(self, counts=None) -> dict[str, float]:
        """All exact metrics of the samples (or of a bootstrap multiset)."""
        return {"energy_distance": self.energy_distance(counts), "occupancy_tv": self.occupancy_tv(counts),
                "logp_gap": self.logp_gap(counts)}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Per-image inputs for features.safetensors: responsibility [n, J], log_density [n], energy_cross [n],
        energy_within [n, n] (scalars energy_yy, logp_mean go into the file's metadata)."""
        return {"responsibility": self.responsibility, "log_density": self.log_density,
                "energy_cross": self.cross, "energy_within": self.within}


def variance_ratio_per_image(oracle, samples: torch.Tensor) -> torch.Tensor:
    """|x_i - mu|^2 / tr(Sigma) per image [n] (float64): mu, Sigma the mixture's exact mean and covariance
    (tr Sigma = sum_j w_j (tr C_j + |m_j - mu|^2)); its expectation under exact draws is exactly 1."""
    x = samples.to(F64).reshape(len(samples), -1).cpu()
    w, means, covs = oracle.weights.to(F64).cpu(), oracle.means.to(F64).cpu(), oracle.covs.to(F64).cpu()
    mu = w @ means
    trace = float(w @ (torch.diagonal(covs, dim1=-2, dim2=-1).sum(-1) + ((means - mu) ** 2).sum(-1)))
    return ((x - mu) ** 2).sum(-1) / trace
