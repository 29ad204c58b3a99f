"""Coupled step noise (rwbench.core.brownian): each step exactly N(0, I) and independent of the others, coarse steps the
variance-weighted sums of the fine steps they span, runs at different step counts coupled, the start independent of
the steps; and the exact oracle start x ~ p_sigma (rwbench.models.oracle.noised_sample)."""

from __future__ import annotations

import math

import pytest
import torch

from rwbench.core import schedules
from rwbench.core.brownian import BrownianPaths, counter_normals, image_keys, path_times
from rwbench.core.rng import step_noise
from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.models.oracle import noised_moments, noised_sample

F64 = torch.float64


def ladder(K, lo=0.01, hi=8.5):
    return torch.cat([schedules.sigmoid(K, lo, hi), torch.zeros(1, dtype=F64)])


def steps(source, K, B, d):
    x = torch.zeros(B, d, dtype=F64)
    return torch.stack([source.draw(k, x) for k in range(K)])          # [K, B, d]


def test_counter_normals_are_standard_normal_and_keyed_only_by_image_and_id():
    keys = image_keys(range(200))
    z = counter_normals(keys, [5, 6, 7], 300).double()
    assert z.shape == (3, 200, 300)
    assert abs(z.mean()) < 4 / math.sqrt(z.numel())
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / z.numel())
    kurt = (z**4).mean()
    assert abs(kurt - 3) < 0.1
    # one image's draws do not depend on which other images or ids are drawn with it
    assert torch.equal(counter_normals(keys[7:9], [6], 300)[0], z[1, 7:9])
    assert not torch.equal(z[0], z[1]) and not torch.equal(z[:, 0], z[:, 1])


def test_each_step_is_standard_normal_and_independent_of_the_others():
    paths = BrownianPaths(list(range(1000, 1400)))
    n = steps(paths.over(ladder(40)), 40, 400, 8)                       # 40 steps x 3200 values
    per_step = n.reshape(40, -1)
    m = per_step.shape[1]
    assert per_step.mean(1).abs().max() < 4.5 / math.sqrt(m)
    assert (per_step.var(1) - 1).abs().max() < 4.5 * math.sqrt(2 / m)
    corr = torch.corrcoef(per_step)
    off = corr[~torch.eye(40, dtype=torch.bool)]
    assert off.abs().max() < 4.5 / math.sqrt(m)


def test_coarse_step_is_the_weighted_sum_of_the_fine_steps_it_spans():
    paths = BrownianPaths(list(range(50)))
    fine = ladder(100)
    coarse = torch.cat([fine[:100:10], torch.zeros(1, dtype=F64)])          # every 10th level: a subset of the fine ladder
    nf, nc = steps(paths.over(fine), 100, 50, 16), steps(paths.over(coarse), 10, 50, 16)
    u = path_times(fine)
    du = (u[:-1] - u[1:]).sqrt()
    for j in range(10):
        hi, lo = 10 * j, 10 * j + 10
        agg = (nf[hi:lo] * du[hi:lo, None, None]).sum(0) / math.sqrt(float(u[hi] - u[lo]))
        assert torch.allclose(agg, nc[j], atol=2e-5), j


def test_runs_at_different_step_counts_are_coupled():
    """K = 10 and K = 100 sigmoid ladders (not nested): the K = 10 noise and the K = 100 noise aggregated over the same
    interval (ends rounded to the nearest fine level) correlate ~1; independent paths do not correlate."""
    paths, other = BrownianPaths(list(range(200))), BrownianPaths(list(range(5000, 5200)))
    fine, coarse = ladder(1000), ladder(10)
    nf = steps(paths.over(fine), 1000, 200, 4)
    nc, nx = steps(paths.over(coarse), 10, 200, 4), steps(other.over(coarse), 10, 200, 4)
    uf, uc = path_times(fine), path_times(coarse)
    du = (uf[:-1] - uf[1:]).sqrt()
    for j in range(9):                                                    # the last coarse step ends at 0 = fine end
        a, b = int((uf - uc[j]).abs().argmin()), int((uf - uc[j + 1]).abs().argmin())
        agg = (nf[a:b] * du[a:b, None, None]).sum(0) / math.sqrt(float(uf[a] - uf[b]))
        assert torch.corrcoef(torch.stack([agg.flatten(), nc[j].flatten()]))[0, 1] > 0.95, j
        assert abs(torch.corrcoef(torch.stack([agg.flatten(), nx[j].flatten()]))[0, 1]) < 0.25, j


def test_layout_and_chunks_do_not_change_the_noise(monkeypatch):
    import rwbench.core.brownian as brownian

    lad = ladder(2000, 0.01, 0.02)          # 2000 levels in 0.69 nats: many share a leaf of the tree
    whole = steps(BrownianPaths(list(range(8))).over(lad), 2000, 8, 4)
    part = steps(BrownianPaths(list(range(4, 6))).over(lad), 2000, 2, 4)
    assert torch.equal(whole[:, 4:6], part)
    monkeypatch.setattr(brownian, "CHUNK_BYTES", 8 * 4 * 4 * (brownian.DEPTH + 3) * 7)   # chunks of ~7 steps
    assert torch.equal(steps(BrownianPaths(list(range(8))).over(lad), 2000, 8, 4), whole)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if threads > 1 else 2)
        assert torch.equal(steps(BrownianPaths(list(range(8))).over(lad), 2000, 8, 4), whole)
    finally:
        torch.set_num_threads(threads)


def test_repeated_levels_split_their_interval_and_step_noise_dispatches():
    assert path_times([2.0, 2.0, 1.0, 0.0]).tolist() == [4.0, 2.5, 1.0, 0.0]
    with pytest.raises(ValueError, match="repeats"):
        path_times([2.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="increase"):
        path_times([1.0, 2.0])
    src = BrownianPaths([1, 2]).over([3.0, 3.0, 3.0, 1.0, 0.0])
    x = torch.zeros(2, 1, 4, 4)
    assert torch.equal(step_noise(None, 1, x, src), src.draw(1, x))
    with pytest.raises(ValueError, match="steps 0..3"):
        src.draw(4, x)
    with pytest.raises(ValueError, match="range"):
        BrownianPaths([1]).over([2e4, 0.0])


def test_start_normals_are_standard_normal_independent_of_the_steps_and_coupled_across_levels():
    paths = BrownianPaths(list(range(300)))
    z = paths.start_normals(8.5, 16)
    assert abs(z.mean()) < 4 / math.sqrt(z.numel()) and abs(z.var() - 1) < 4 * math.sqrt(2 / z.numel())
    n = steps(paths.over(ladder(20)), 20, 300, 16)
    assert torch.corrcoef(torch.stack([z.flatten(), n[0].flatten()]))[0, 1].abs() < 4 / math.sqrt(z.numel())
    z2 = paths.start_normals(9.0, 16)                                      # sigma z(sigma) ~ a reverse diffusion's state
    assert torch.corrcoef(torch.stack([z.flatten(), z2.flatten()]))[0, 1] > 0.85


def test_exact_start_matches_the_noised_mixture_mean_and_covariance():
    """x = m_j + (C_j + sigma^2 I)^(1/2) z has the mean and covariance of p_sigma (MC error at n = 40000)."""
    g = torch.Generator().manual_seed(0)
    d = 3
    means = torch.tensor([[0.0, 1.0, 2.0], [2.0, -1.0, 0.5]], dtype=F64)
    A = torch.randn(2, d, d, generator=g, dtype=F64)
    oracle = GaussianMixtureDenoiser(torch.tensor([0.3, 0.7], dtype=F64), means, A @ A.transpose(1, 2))
    sigma, n = 0.8, 40000
    from rwbench.core.rng import image_generators

    gens = image_generators(1, "exact-start", range(n))
    x = noised_sample(oracle, sigma, torch.randn(n, d, generator=g, dtype=F64), gens)
    mu, cov = noised_moments(oracle, sigma)
    sd = cov.diagonal().sqrt()
    assert ((x.mean(0) - mu).abs() / sd).max() < 4 / math.sqrt(n)
    emp = torch.cov(x.T)
    assert ((emp - cov).abs() / (sd[:, None] * sd[None, :])).max() < 6 / math.sqrt(n)
    assert torch.allclose(noised_moments(oracle, 0.0)[0], oracle.mean)
