"""A walk that blows up without reaching inf (c = 30) is flagged diverged by the one threshold (rwbench.core.divergence);
evaluate flags the run and the scale-space stage drops its trajectories instead of computing on |x| ~ 1e7."""

from __future__ import annotations

import math

import pytest
import torch

from rwbench import cli
from rwbench.data import to_uint8
from rwbench.core.divergence import DIVERGENCE_FACTOR, diverged
from rwbench.io import read_json, write_json
from toy_extractor import register_toy_extractor

TOY = "rwbench-test-toy-divergence"


def test_threshold_is_ten_range_widths_plus_the_noise_level():
    lo, hi = -1.0, 1.0
    edge = hi + DIVERGENCE_FACTOR * (hi - lo)                       # 21 for [-1, 1]
    x = torch.zeros(6, 2, dtype=torch.float64)
    x[1, 0] = edge                                                  # on the threshold: kept
    x[2, 1] = math.nextafter(edge, math.inf)                        # just beyond: diverged
    x[3, 0] = -(edge + 1.0)                                         # below lo - F w: diverged
    x[4, 0], x[5, 1] = float("nan"), float("inf")
    assert diverged(x, (lo, hi)).tolist() == [False, False, True, True, True, True]
    assert not diverged(x[2:3], (lo, hi), sigma=0.1).any()          # a noisy iterate gets F sigma more room
    assert diverged(torch.full((1, 3), 1e21), (0.0, 1.0)).all()
    assert diverged(torch.zeros(0, 1, 4, 4)).shape == (0,)                 # a trajectory file with no images


@pytest.fixture()
def blown_up_run(tmp_path):
    """A real c = 30 walk on the small digits oracle: |x| grows to ~1e7 in 6 steps, every value stays finite."""
    from test_sample import write_run

    spec = write_run(tmp_path, n_images=8, shard_size=8, c=[30.0], trajectory_points=4)
    assert cli.main(["sample", "--spec", str(spec), "--shard", "0", "--no-progress"]) == 0
    return spec.parent


def test_blown_up_walk_is_flagged_by_sample_and_evaluate(blown_up_run, tmp_path):
    from rwbench.metrics import evaluate as ev

    register_toy_extractor(TOY)
    ref = to_uint8(torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1)))
    torch.save(ref, tmp_path / "ref.pt")
    spec = read_json(blown_up_run / "spec.json")
    write_json(blown_up_run / "spec.json", dict(spec, reference={"kind": "file", "path": str(tmp_path / "ref.pt")}))
    # sampled again for the changed spec (a shard records the spec it was drawn for; reading checks it)
    assert cli.main(["sample", "--spec", str(blown_up_run / "spec.json"), "--shard", "0", "--no-progress"]) == 0
    shard = torch.load(blown_up_run / "shards" / "shard-00000.pt", weights_only=True)
    assert torch.isfinite(shard["sample"]).all() and shard["sample"].abs().max() > 1e4
    assert shard["diverged"].all()
    # evaluate re-applies the threshold to shards written without it (the old flag: non-finite only)
    shard["diverged"] = ~torch.isfinite(shard["sample"].flatten(1)).all(1)
    torch.save(shard, blown_up_run / "shards" / "shard-00000.pt")
    frame = ev.evaluate_run(blown_up_run, reference_cache=tmp_path / "cache", extractor=TOY).set_index("metric")
    assert frame.loc["diverged_fraction", "value"] == 1.0 and frame.loc["diverged", "value"] == 1.0
    assert math.isnan(frame.loc["fid", "value"]) and math.isnan(frame.loc["kid_mean", "value"])


def test_scalespace_drops_blown_up_trajectories(blown_up_run):
    from rwbench.scalespace.runs import scalespace_run

    rows, mono = scalespace_run(blown_up_run, reference=None)
    counts = {r["value"] for r in rows if r["quantity"] == "n_images" and r["curve"] == "sampler"}
    assert counts == {0.0} and mono == []
    assert not [r for r in rows if r["quantity"] not in ("n_images",)]
