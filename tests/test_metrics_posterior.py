import math

import pytest
import torch

from rwbench.models.denoisers import GaussianDenoiser
from rwbench.metrics.posterior_quality import (
    credible_coverage,
    credible_intervals,
    oracle_quality,
    posterior_quality,
    sample_psnrs,
    to_unit,
)

F64 = torch.float64


def test_psnr_single_and_mean_known_values():
    target = torch.full((1, 8, 8), 0.5, dtype=F64)
    samples = torch.stack([target + 0.1, target - 0.1])           # each MSE 0.01 -> 20 dB, mean exact -> inf
    q = posterior_quality(samples, target)
    assert q["psnr_single"] == pytest.approx(20.0, abs=1e-9)
    assert q["psnr_mean"] == math.inf
    assert q["n_samples"] == 2
    # data range [-1, 1]: the same errors doubled give the same PSNR after mapping to [0, 1]
    q2 = posterior_quality(2 * samples - 1, 2 * target - 1, (-1.0, 1.0))
    assert q2["psnr_single"] == pytest.approx(20.0, abs=1e-9)
    # standard PSNR clips to [0, 1]: a sample at 1.5 scores like one at 1.0
    t0 = torch.zeros(1, 4, 4, dtype=F64)
    s = sample_psnrs(torch.stack([t0 + 1.5, t0 + 1.0]), t0)
    assert s["psnr"][0] == s["psnr"][1] == 0.0


def test_minmax_psnr_is_scale_invariant():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 8, 8, generator=g, dtype=F64)
    samples = (target + 0.05 * torch.randn(3, 1, 8, 8, generator=g, dtype=F64))
    a = sample_psnrs(samples, target)["psnr_minmax"]
    b = sample_psnrs(3 * samples + 2, target)["psnr_minmax"]
    assert torch.allclose(a, b, atol=1e-10)
    assert "ssim_mean" in posterior_quality(samples, target)


def test_coverage_is_nominal_for_calibrated_draws():
    g = torch.Generator().manual_seed(1)
    samples = torch.randn(2000, 1, 20, 20, generator=g, dtype=F64)
    truth = torch.randn(1, 20, 20, generator=g, dtype=F64)
    assert credible_coverage(samples, truth, 0.9) == pytest.approx(0.9, abs=0.05)
    assert credible_coverage(samples, truth + 10, 0.9) == 0.0
    lo, hi = credible_intervals(samples, 0.9)
    assert torch.allclose(lo, torch.full_like(lo, -1.6449), atol=0.15) and torch.allclose(hi, -lo, atol=0.2)


def test_oracle_quality_exact_vs_exact_and_biased():
    shape = (1, 4, 4)
    g = torch.Generator().manual_seed(2)
    B = torch.randn(16, 16, generator=g, dtype=F64)
    post = GaussianDenoiser(0.5 + 0.1 * torch.randn(16, generator=g, dtype=F64), 0.01 * B @ B.T / 16, sample_shape=shape)
    truth = post.sample(1, g)[0]
    a, b = post.sample(400, g), post.sample(400, g)
    mmse = post.mean.reshape(shape)
    q = oracle_quality(a, truth, mmse, b)
    assert abs(q["psnr_gap"]) < 0.5 and abs(q["energy_distance"]) < 0.02
    assert q["coverage_of_exact_draws"] == pytest.approx(0.9, abs=0.03)
    off = oracle_quality(a + 0.2, truth, mmse, b)
    assert off["energy_distance"] > 10 * max(q["energy_distance"], 1e-3)
    assert off["coverage_of_exact_draws"] < 0.5 and off["sliced_wasserstein"] > q["sliced_wasserstein"]
    narrow = oracle_quality(mmse[None] + 0.3 * (a - mmse), truth, mmse, b)
    assert narrow["coverage_of_exact_draws"] < 0.6


def test_bad_input():
    with pytest.raises(ValueError, match="level"):
        credible_coverage(torch.zeros(5, 1, 2, 2), torch.zeros(1, 2, 2), 1.0)
    with pytest.raises(ValueError, match="samples"):
        posterior_quality(torch.zeros(5, 1, 2, 3), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="data_range"):
        to_unit(torch.zeros(1), (1.0, 0.0))
    with pytest.raises(ValueError, match="truth"):
        credible_coverage(torch.zeros(5, 1, 2, 2), torch.zeros(1, 3, 2))


def test_reference_coverage_of_n_exact_draws():
    """Closed form (j - i) / (N + 1) = Monte Carlo with uniform draws; Gaussian values as measured (0.72 / 0.805 / 0.88)."""
    from rwbench.metrics.posterior_quality import reference_coverage, reference_coverage_uniform

    # N = 21: positions 1 and 19 are integers, so the closed form holds for any continuous law: 18 / 22
    assert reference_coverage_uniform(21, 0.9) == pytest.approx(18 / 22, abs=1e-15)
    assert reference_coverage(21, 0.9, n_mc=100_000, law="normal") == pytest.approx(18 / 22, abs=0.005)
    assert reference_coverage(16, 0.9, n_mc=100_000, law="uniform") == pytest.approx(
        reference_coverage_uniform(16, 0.9), abs=0.005)
    assert reference_coverage(16, 0.9, n_mc=100_000) == pytest.approx(0.805, abs=0.006)
    assert reference_coverage(8, 0.9, n_mc=100_000) == pytest.approx(0.72, abs=0.012)
    assert reference_coverage(100, 0.9, n_mc=20_000) == pytest.approx(0.88, abs=0.01)
    with pytest.raises(ValueError):
        reference_coverage_uniform(1)


def test_evaluate_target_summary_is_the_t_interval_over_targets():
    import numpy as np

    from rwbench.metrics.evaluate import target_summary

    values = np.array([1.0, 2.0, 3.0, 5.0, 4.0, 6.0, 0.0, 2.0, np.nan])
    targets = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    s = target_summary(values, targets)
    means = np.array([1.5, 4.0, 5.0, 1.0])
    half = 3.182446305284263 * means.std(ddof=1) / 2          # t_{0.975, 3} x sd / sqrt(4)
    assert s["value"] == pytest.approx(means.mean()) and s["n"] == 8      # equal samples per target
    assert s["ci_lo"] == pytest.approx(means.mean() - half, abs=1e-9)
    assert math.isnan(target_summary(values[:2], targets[:2])["ci_lo"])     # one target: no interval
