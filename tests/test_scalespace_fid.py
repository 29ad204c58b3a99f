"""Feature FID along trajectories (rwbench.scalespace.fid, `rwbench scalespace --fid-points`)."""

import pandas as pd
import pytest
import torch

from rwbench.data import to_uint8
from rwbench.metrics import extractors as ex
from rwbench.metrics.fidelity import feature_statistics, fid_from_statistics
from rwbench.commands import scalespace as command
from rwbench.scalespace.fid import FeatureFID, fid_point_indices, trajectory_fid
from test_scalespace_command import SIGMAS, _make_run, _parse, _reference
from toy_extractor import register_toy_extractor

TOY = "rwbench-test-toy-scalespace"


@pytest.fixture(scope="module", autouse=True)
def toy_extractor():
    register_toy_extractor(TOY, width=8, gain=3.0)


@pytest.mark.parametrize("n_points, fid_points, expected", [
    (13, 10, [0, 1, 3, 4, 5, 7, 8, 9, 11, 12]), (7, 3, [0, 3, 6]), (7, 1, [6]), (4, 10, [0, 1, 2, 3]), (7, 0, [])])
def test_fid_points_spread_evenly_and_keep_the_output(n_points, fid_points, expected):
    assert fid_point_indices(n_points, fid_points) == expected


def test_feature_fid_matches_evaluate_pipeline(tmp_path):
    ref_path, images = _reference(tmp_path)
    fid = FeatureFID.load({"kind": "file", "path": str(ref_path)}, (0.0, 1.0), 1, TOY, cache_dir=tmp_path / "cache")
    extractor = ex.build_extractor(ex.resolve_extractor(TOY))
    x = torch.rand(50, 1, 6, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    feats = ex.extract_features(extractor, to_uint8(x))["features"]
    ref_feats = ex.extract_features(extractor, images)["features"]
    expected = fid_from_statistics(feature_statistics(feats), feature_statistics(ref_feats))
    assert fid(x) == pytest.approx(expected, rel=1e-9)
    assert fid(images.to(torch.float64) / 255.0) == pytest.approx(0.0, abs=1e-6)   # the reference set itself
    with pytest.raises(ValueError, match="N >= 2"):
        fid(x[:1])


def test_trajectory_fid_only_at_chosen_points(tmp_path):
    ref_path, images = _reference(tmp_path)
    fid = FeatureFID.load({"kind": "file", "path": str(ref_path)}, (0.0, 1.0), 1, TOY, cache_dir=tmp_path / "cache")
    X = torch.rand(5, 20, 1, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = trajectory_fid(X, fid, 3)
    assert torch.isnan(out[[1, 3]]).all() and torch.isfinite(out[[0, 2, 4]]).all()
    assert out[4] == pytest.approx(fid(X[4]), rel=1e-12)


def test_scalespace_command_adds_fid_along_the_forward_marginal(tmp_path):
    ref_path, images = _reference(tmp_path)
    run, _ = _make_run(tmp_path / "runs", images, "r0", 1.0, n=60, diverge=False)
    argv = ["--run", run, "--reference", ref_path, "--fid-points", 4, "--extractor", TOY,
            "--reference-cache", tmp_path / "cache"]
    assert command.run(_parse(argv)) == 0
    frame = pd.read_csv(run / "scalespace.csv")
    fid = frame[frame["quantity"] == "fid"]
    assert set(fid["curve"]) == {"sampler", "forward"}                  # not the D7 heat / osmosis curves
    samp = fid[fid["curve"] == "sampler"].sort_values("step")
    assert samp["sigma"].tolist() == [SIGMAS[k] for k in fid_point_indices(len(SIGMAS), 4)]
    values = samp["value"].to_numpy()
    assert (values[:-1] > values[1:]).all() and values[0] > 5 * values[-1]   # noise fades: FID falls monotonically
    mono = pd.read_csv(run / "scalespace-monotonicity.csv").set_index(["curve", "quantity"])["score"]
    assert mono[("sampler", "fid")] == 0.0
    assert any(p.name.endswith(".pt") for p in (tmp_path / "cache").iterdir())   # statistics cached for evaluate too


def test_scalespace_fid_points_must_not_be_negative(tmp_path):
    ref_path, images = _reference(tmp_path)
    run, _ = _make_run(tmp_path / "runs", images, "r0", 1.0)
    with pytest.raises(ValueError, match="--fid-points"):
        command.run(_parse(["--run", run, "--reference", ref_path, "--fid-points", -1]))
