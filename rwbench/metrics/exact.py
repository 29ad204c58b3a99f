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
Moment metrics (float samples on [0, 1], float64; mu, Sigma: the mixture's exact mean and total covariance,
Sigma = sum_j w_j (C_j + (mu_j - mu)(mu_j - mu)^T), mixture_moments):
- variance_ratio: mean_i v_i with v_i = |x_i - mu|^2 / tr Sigma. E_p[v] = 1 exactly; se = sd(v_i) / sqrt(n) (the
  v_i are independent); on the digits oracle sd(v) = 0.37 per exact draw. Its exact expectation for a sampler is
  (|m_q - mu|^2 + tr Sigma_q) / tr Sigma: > 1 too spread (hot), < 1 contracted (cold).
- mean_offset: |xbar - mu| (L2, [0, 1] pixels). Biased upward: for exact draws E|xbar - mu|^2 = tr Sigma / n, so
  its floor is about sqrt(tr Sigma / n) (0.30 on the digits oracle at n = 128; floors.csv carries it).
- mean_offset_sq: the U-statistic sum_{i != j} (x_i - mu).(x_j - mu) / (n (n - 1)) = |xbar - mu|^2 - s^2 / n with
  s^2 = sum_i |x_i - xbar|^2 / (n - 1) the samples' own total variance. Unbiased for |m_q - mu|^2 whatever the
  sampler's spread (subtracting tr Sigma / n instead would be biased by (tr Sigma_q - tr Sigma) / n for a sampler
  with the wrong variance); 0 in expectation for exact draws, can be < 0. se from the U-statistic's variance
  Var = 2 (2 (n - 2) z1 + z2) / (n (n - 1)), z1 = d^T Sigma_q d, z2 = tr Sigma_q^2 + 2 z1 (d = m_q - mu), with z1
  and tr Sigma_q^2 estimated without bias by U-statistics of the Gram matrix of x_i - mu (offset_parts; z1 clamped
  at 0, so the se is conservative near d = 0); the interval is value +- 1.96 se (the bootstrap of a degenerate
  U-statistic overstates its spread). Compare cells against the floor's exact-draw band at the same n.
- occupancy_chi2: sum_j (h_j - w_j)^2 / w_j with the soft occupancy h_j of occupancy_tv. For exact draws
  E = (sum_j E_p[r_j^2] / w_j - 1) / n <= (K - 1) / n, with equality when the responsibilities are one-hot (well
  separated components: 9.02 / n on the digits oracle, K = 10).
- component_variance_ratio: the pooled within-component ratio sum_i sum_j r_ij |x_i - mu_j|^2 /
  sum_i sum_j r_ij tr C_j with exact responsibilities r_ij = p(j | x_i). E_p[r_j(X) g(X)] = w_j E_{N(mu_j, C_j)}[g],
  so numerator and denominator have the same expectation for exact draws (ratio 1 up to O(1/n)); responsibility
  weights are used, not the argmax assignment, because argmax truncates each component's tails (biased low where
  components overlap; identical on the well-separated digits oracle). Unlike variance_ratio it ignores how the
  sampler spreads mass between components: it measures the spread around each mode.
- component_ratio_maxdev: max_j |R_j - 1| over components with soft count sum_i r_ij >= 2, R_j = sum_i r_ij
  |x_i - mu_j|^2 / (sum_i r_ij tr C_j): one collapsed or inflated component; a positive finite-n floor.
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
EXACT_METRICS = ("energy_distance", "occupancy_tv", "logp_gap", "variance_ratio", "mean_offset", "mean_offset_sq",
                 "occupancy_chi2", "component_variance_ratio", "component_ratio_maxdev")
MIN_COMPONENT_COUNT = 2.0   # component_ratio_maxdev: components with a soft count below this are left out


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


def mixture_moments(oracle) -> dict[str, torch.Tensor]:
    """Exact moments of a mixture (float64, CPU): mean mu [d], total covariance Sigma [d, d] = sum_j w_j (C_j +
    (mu_j - mu)(mu_j - mu)^T), its trace, and the component traces tr C_j [J]."""
    w, means, covs = (t.detach().cpu().to(F64) for t in (oracle.weights, oracle.means, oracle.covs))
    mu = w @ means
    centred = means - mu
    cov = torch.einsum("j,jde->de", w, covs) + torch.einsum("j,jd,je->de", w, centred, centred)
    return {"mean": mu, "covariance": cov, "trace": cov.diagonal().sum(),
            "component_traces": covs.diagonal(dim1=1, dim2=2).sum(-1)}


def variance_ratios(oracle, x: torch.Tensor, moments: dict | None = None) -> torch.Tensor:
    """Per-image |x_i - mu|^2 / tr Sigma of float samples x [n, ...] (float64 [n]); E_p = 1 exactly for x ~ p."""
    m = moments if moments is not None else mixture_moments(oracle)
    flat = torch.as_tensor(x).detach().cpu().to(F64).reshape(len(x), -1)
    return ((flat - m["mean"]) ** 2).sum(1) / m["trace"]


def component_parts(oracle, x: torch.Tensor, responsibility: torch.Tensor | None = None,
                    moments: dict | None = None) -> dict[str, torch.Tensor]:
    """Per-image inputs of the within-component ratios of float samples x [n, ...]: ratio [n, J] = |x_i - mu_j|^2 /
    tr C_j, num [n] = sum_j r_ij |x_i - mu_j|^2, den [n] = sum_j r_ij tr C_j (r: noise-free responsibilities);
    component_variance_ratio = sum num / sum den."""
    from rwbench.models.oracle import mixture_responsibilities

    m = moments if moments is not None else mixture_moments(oracle)
    flat = torch.as_tensor(x).detach().cpu().to(F64).reshape(len(x), -1)
    r = mixture_responsibilities(oracle, flat).cpu() if responsibility is None else responsibility
    means = oracle.means.detach().cpu().to(F64)
    comp_sq = torch.stack([((flat - mj) ** 2).sum(1) for mj in means], dim=1)          # [n, J] |x_i - mu_j|^2
    traces = m["component_traces"]
    return {"ratio": comp_sq / traces, "num": (r * comp_sq).sum(1), "den": r @ traces}


def offset_parts(gram: torch.Tensor) -> dict[str, float]:
    """Unbiased U-statistics of the Gram matrix G_ij = (x_i - mu).(x_j - mu) of n >= 4 independent draws with mean
    m_q = mu + d and covariance Sigma_q: offset_sq (|d|^2), z1 (d^T Sigma_q d), tr_sq (tr Sigma_q^2) and se, the
    standard error of offset_sq from Var = 2 (2 (n - 2) z1 + z2) / (n (n - 1)), z2 = tr Sigma_q^2 + 2 z1, with the
    estimate of z1 clamped at 0: conservative near d = 0 (on exact draws of the test mixtures 1.15-1.5 x the true sd),
    within MC error of the true sd where the offset dominates.

    With O = G off its diagonal: A = mean_{i != j} O_ij^2 = tr S^2 + 2 z1 + |d|^4, B = mean over distinct i, j, k of
    O_ij O_jk = z1 + |d|^4, C = mean over distinct i, j, k, l of O_ij O_kl = |d|^4; so z1 = B - C and
    tr Sigma_q^2 = A - 2 B + C (each sum over distinct indices by inclusion-exclusion from row sums)."""
    g = torch.as_tensor(gram, dtype=F64)
    n = g.shape[0]
    if g.shape != (n, n) or n < 4:
        raise ValueError(f"gram: need a square [n, n] Gram matrix with n >= 4, got {tuple(g.shape)}")
    off = g - torch.diag(torch.diagonal(g))
    total, rows = float(off.sum()), off.sum(0)
    s2 = float((off * off).sum())
    path = float((rows * rows).sum()) - s2                      # sum over distinct i, j, k of O_ij O_jk
    quad = total * total - 2.0 * s2 - 4.0 * path                # distinct i, j, k, l
    a = s2 / (n * (n - 1))
    b = path / (n * (n - 1) * (n - 2))
    c = quad / (n * (n - 1) * (n - 2) * (n - 3))
    z1, tr_sq = b - c, a - 2.0 * b + c
    # z1 clamped at 0 on its own: conservative where d is near 0 (the noise of z1's estimate, times 4 (n - 2), would
    # otherwise make the se too small about half the time); consistent where d^T Sigma_q d > 0
    z1_pos = max(z1, 0.0)
    var = 2.0 * (2.0 * (n - 2) * z1_pos + max(tr_sq + 2.0 * z1_pos, 0.0)) / (n * (n - 1))
    return {"offset_sq": total / (n * (n - 1)), "z1": z1, "tr_sq": tr_sq, "se": math.sqrt(var)}


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
    """The exact metrics (EXACT_METRICS) of n samples of an oracle cell; call with bootstrap counts or None."""

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
        # moments of the float samples against the mixture's exact mean and covariance
        moments = mixture_moments(oracle)
        flat = x.reshape(self.n, -1).cpu()
        centred = flat - moments["mean"]
        self.trace = float(moments["trace"])
        self.gram = centred @ centred.T                                                  # [n, n] (x_i - mu).(x_j - mu)
        self.variance_ratios = self.gram.diagonal() / self.trace                         # [n] |x_i - mu|^2 / tr Sigma
        parts = component_parts(oracle, x, self.responsibility, moments)
        self.component_ratio, self.within_num, self.within_den = (parts[k] for k in ("ratio", "num", "den"))
        self.component = self.responsibility.argmax(dim=1)                               # [n] most probable j

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

    def variance_ratio(self, counts=None) -> float:
        """mean_i |x_i - mu|^2 / tr Sigma (1 for exact draws); se = sd of the per-image ratios / sqrt(n)."""
        c = self._counts(counts)
        return float((c @ self.variance_ratios) / c.sum())

    def mean_offset(self, counts=None) -> float:
        """|xbar - mu| (L2 on [0, 1] pixels); about sqrt(tr Sigma / n) for exact draws (see the floor)."""
        c = self._counts(counts)
        p = c / c.sum()
        return math.sqrt(max(float(p @ self.gram @ p), 0.0))

    def mean_offset_sq(self, counts=None) -> float:
        """U-statistic sum_{i != j} (x_i - mu).(x_j - mu) / (n (n - 1)), unbiased for |m_q - mu|^2; a multiset leaves
        pairs of copies of one image out (sum_{i, j} c_i c_j G_ij - sum_i c_i^2 G_ii over N^2 - sum_i c_i^2)."""
        c = self._counts(counts)
        pairs = float(c.sum() ** 2 - (c * c).sum())
        if pairs <= 0:
            return float("nan")
        return float((c @ self.gram @ c - (c * c) @ self.gram.diagonal()) / pairs)

    def offset_se(self) -> float:
        """se of mean_offset_sq (offset_parts: the U-statistic's variance with unbiased plug-ins; n >= 4)."""
        return offset_parts(self.gram)["se"] if self.n >= 4 else float("nan")

    def occupancy_chi2(self, counts=None) -> float:
        """sum_j (h_j - w_j)^2 / w_j (soft occupancy h); about (K - 1) / n for exact draws of separated components."""
        return float((((self.occupancy(counts) - self.weights) ** 2) / self.weights).sum())

    def component_variance_ratio(self, counts=None) -> float:
        """sum_i r_ij |x_i - mu_j|^2 / sum_i r_ij tr C_j pooled over components (1 for exact draws)."""
        c = self._counts(counts)
        return float((c @ self.within_num) / (c @ self.within_den))

    def component_ratios(self, counts=None) -> torch.Tensor:
        """R_j = sum_i c_i r_ij |x_i - mu_j|^2 / (sum_i c_i r_ij tr C_j) per component [J]; NaN where the soft count
        n sum_i c_i r_ij / sum_i c_i < MIN_COMPONENT_COUNT."""
        c = self._counts(counts)
        mass = c @ self.responsibility
        ratio = (c @ (self.responsibility * self.component_ratio)) / mass.clamp(min=1e-300)
        enough = mass * (self.n / c.sum()) >= MIN_COMPONENT_COUNT          # soft count on the scale of n images
        return torch.where(enough, ratio, torch.full_like(ratio, float("nan")))

    def component_ratio_maxdev(self, counts=None) -> float:
        """max_j |R_j - 1| over the components with enough soft count (component_ratios)."""
        dev = (self.component_ratios(counts) - 1.0).abs()
        dev = dev[~torch.isnan(dev)]
        return float(dev.max()) if len(dev) else float("nan")

    def __call__(self, counts=None) -> dict[str, float]:
        """All exact metrics of the samples (or of a bootstrap multiset)."""
        return {"energy_distance": self.energy_distance(counts), "occupancy_tv": self.occupancy_tv(counts),
                "logp_gap": self.logp_gap(counts), "variance_ratio": self.variance_ratio(counts),
                "mean_offset": self.mean_offset(counts), "mean_offset_sq": self.mean_offset_sq(counts),
                "occupancy_chi2": self.occupancy_chi2(counts),
                "component_variance_ratio": self.component_variance_ratio(counts),
                "component_ratio_maxdev": self.component_ratio_maxdev(counts)}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Per-image inputs for features.safetensors: responsibility [n, J], log_density [n], energy_cross [n],
        energy_within [n, n], variance_ratio [n] (|x_i - mu|^2 / tr Sigma), component int64 [n] (argmax_j r_ij),
        component_ratio [n, J] (|x_i - mu_j|^2 / tr C_j), within_num / within_den [n] (the pooled within-component
        ratio's per-image numerator and denominator) and offset_gram [n, n] ((x_i - mu).(x_j - mu)); scalars
        energy_yy, logp_mean, variance_trace (tr Sigma) go into the file's metadata."""
        return {"responsibility": self.responsibility, "log_density": self.log_density,
                "energy_cross": self.cross, "energy_within": self.within, "variance_ratio": self.variance_ratios,
                "component": self.component, "component_ratio": self.component_ratio, "within_num": self.within_num,
                "within_den": self.within_den, "offset_gram": self.gram}
