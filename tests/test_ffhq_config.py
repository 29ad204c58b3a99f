"""config/ffhq.yaml at a tiny scale on CPU: the paper's two registry models with random weights in the upstream file
layouts (small architectures, 64 px), every experiment planned and sampled, inverse runs evaluated, trajectory runs
through the high-dimensional scale-space path (diagonal-DCT entropy, downsampled Frechet, FID at trajectory points)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from rwbench import cli
from rwbench.plan import grid
from rwbench.plan.config import load_config
from rwbench.models.pretrained import write_random_checkpoint
from toy_extractor import register_toy_extractor

TOY = "rwbench-test-toy-ffhq"


@pytest.fixture(scope="module")
def tiny_ffhq(tmp_path_factory):
    base = tmp_path_factory.mktemp("ffhq")
    faces = base / "ffhq"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(faces / f"{i:05d}.png")
    config = load_config("config/ffhq.yaml")
    config = copy.deepcopy(config)
    config.update(results_dir=str(base / "results"), device="cpu", shard_size=2)
    paths = {"ffhq-vp": write_random_checkpoint("ffhq-vp-adm", base / "ffhq_10m.pt", config="small"),
             "ffhq-ve": write_random_checkpoint("ffhq-ve-ncsnpp", base / "checkpoint_48.pth", config="small")}
    for name, model in config["models"].items():
        model.update(checkpoint=str(paths[name]), resolution=64, loader_options={"config": "small"})
    for exp in config["experiments"].values():
        exp.update(steps=[2], n_images=4 if exp.get("trajectory_points") else 2, n_targets=1, samples_per_target=2)
        exp["TK"] = exp.get("TK", [1.0])[:1]
        exp["trajectory_points"] = min(exp.get("trajectory_points", 0), 2)
    path = base / "ffhq-tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return base, path, config, faces


def test_every_ffhq_experiment_samples_at_tiny_scale(tiny_ffhq, monkeypatch):
    base, path, config, faces = tiny_ffhq
    monkeypatch.setenv("RWBENCH_FFHQ_DIR", str(faces))
    runs = grid.expand(config)
    assert {s["sampler"] for s in runs.values()} >= {"simplified", "dps", "native-ddpm", "native-ve-sde"}
    assert {s["task"] for s in runs.values()} == {"uncond", "inpaint", "sr", "deblur"}
    assert any(s["trajectory_points"] for s in runs.values())
    for run_id, spec in runs.items():
        spec_path = base / "results/runs" / run_id / "spec.json"
        assert cli.main(["plan", "--config", str(path), "--run", run_id, "--out", str(spec_path)]) == 0
        assert cli.main(["sample", "--spec", str(spec_path), "--shard", "0", "--no-progress"]) == 0
        shard = torch.load(spec_path.parent / "shards/shard-00000.pt", weights_only=True)
        assert shard["sample"].shape == (2, 3, 64, 64), run_id
        if spec["trajectory_points"]:
            assert cli.main(["sample", "--spec", str(spec_path), "--shard", "1", "--no-progress"]) == 0
            # the tiny random networks put their (meaningless) samples beyond rwbench.core.divergence's threshold; this test
            # is about the 256-px scale-space code path, so nothing is dropped here (tests/test_divergence.py tests that)
            monkeypatch.setattr("rwbench.scalespace.runs.diverged", lambda x, *a, **k: torch.zeros(len(x), dtype=torch.bool))
            scalespace_at_256px_settings(spec_path.parent, base)
        assert shard["diverged"].dtype == torch.bool
        if spec["task"] != "uncond":
            assert shard["ground_truth"].shape == (2, 3, 64, 64)
            assert cli.main(["evaluate", "--run", str(spec_path.parent), "--no-lpips", "--n-boot", "50"]) == 0
            assert (spec_path.parent / "metrics.csv").is_file()


def scalespace_at_256px_settings(run_dir, base):
    """`rwbench scalespace` as config/ffhq.yaml runs it: 12,288 dimensions > dense_limit, so D2 is the diagonal-DCT
    entropy and D5 runs on downsampled images; FID at trajectory points with a stand-in extractor."""
    import pandas as pd

    register_toy_extractor(TOY, kernel=5, stride=4)   # stands in for Inception (weights not on this machine)
    assert cli.main(["scalespace", "--run", str(run_dir), "--fid-points", "2", "--extractor", TOY,
                     "--reference-cache", str(base / "cache"), "--frechet-resolution", "16",
                     "--osmosis-steps", "5"]) == 0
    frame = pd.read_csv(run_dir / "scalespace.csv")
    samp = frame[frame["curve"] == "sampler"]
    assert {"gaussian_entropy", "fd_reference", "fd_forward", "fid", "grey_entropy_mean"} <= set(samp["quantity"])
    assert (samp.loc[samp["quantity"] == "n_images", "value"] == 4).all()
    assert samp.loc[samp["quantity"] == "fid", "value"].gt(0).all()
