"""Trajectory points carry the noise level at which they were produced (issue 14, item 7): x_k made by the walk step at
sigma_{k-1} is tagged sigma_{k-1}, not sigma_k."""

import math

import torch

from rwbench.core import presets, schedules
from rwbench.models.denoisers import GaussianDenoiser
from rwbench.run.runners import Trajectory, trajectory_steps
from rwbench.core.walk import random_walk

F64 = torch.float64


def test_recorded_sigma_is_the_level_x_has():
    """c = 1, T = 1/2 on a (near) point mass at 0: x_{k+1} = D(x_k, sigma_k) + sigma_k n_k = sigma_k n_k (+ O(1e-8)),
    so the recorded x_k has RMS sigma_{k-1}; the ladder's 25 % ratio per step makes sigma_k clearly wrong."""
    d, n, K = 16, 1000, 12
    prior = GaussianDenoiser(torch.zeros(d, dtype=F64), 1e-8 * torch.eye(d, dtype=F64))
    sigmas = schedules.geometric(K, 10.0 * 0.8 ** (K - 1), 10.0)
    p = presets.simplified(sigmas, 1.0, 0.5, 0.5)
    rec = Trajectory(trajectory_steps(K, 7), K)
    g = torch.Generator().manual_seed(0)
    x = random_walk(prior, p.initial(torch.randn(n, d, generator=g, dtype=F64)), generator=g, callback=rec,
                    **p.walk_kwargs())
    traj = rec.finish(x, range(n))
    steps, tags = traj["step"].tolist(), traj["sigma"].tolist()
    assert steps[0] == 0 and tags[0] == float(sigmas[0]) and steps[-1] == K and tags[-1] == 0.0
    for j, k in enumerate(steps[:-1]):
        assert tags[j] == float(sigmas[max(k - 1, 0)])
        rms = traj["x"][j].to(F64).pow(2).mean().sqrt().item()
        assert abs(rms / tags[j] - 1) < 4 / math.sqrt(2 * n * d) + 1e-3, (k, rms, tags[j])
        if k > 0:
            assert abs(rms / float(sigmas[k]) - 1) > 0.2  # the old tag sigma_k is 25 % off


def test_walk_callback_reports_both_levels():
    seen = []
    den = GaussianDenoiser(torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64))
    random_walk(den, torch.zeros(1, 2, dtype=F64), [3.0, 2.0, 1.0], [0.1, 0.1, 0.1], [0.0, 0.0, 0.0], callback=seen.append)
    assert [float(i["sigma"]) for i in seen] == [3.0, 2.0, 1.0]
    assert [float(i["x_sigma"]) for i in seen] == [3.0, 3.0, 2.0]
