"""`rwbench export` / `generate` / `score`: a run's samples as PNG + npz, one cell sampled without a config file, and
a folder scored through the metrics of `rwbench evaluate`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from rwbench import cli
from rwbench.tools import oneshot as images
from rwbench.metrics.evaluate import evaluate_run
from rwbench.run.rundir import load_shards
from test_sample import write_run
from toy_extractor import register_toy_extractor

TOY = "rwbench-test-toy-images"


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    """An oracle run of 8 images in 2 shards (rwbench plan + sample), as in test_sample."""
    base = tmp_path_factory.mktemp("images")
    spec_path = write_run(base, n_images=8, shard_size=4)
    for shard in ("0", "1"):
        assert cli.main(["sample", "--spec", str(spec_path), "--shard", shard, "--no-progress"]) == 0
    return base, spec_path.parent


def read_pngs(folder):
    return torch.stack([torch.from_numpy(np.array(Image.open(p))) for p in sorted(folder.glob("*.png"))])


def test_export_writes_the_shards_as_png_and_npz(sampled, tmp_path, capsys):
    _, run = sampled
    assert cli.main(["export", str(run), "--out", str(tmp_path / "x")]) == 0
    assert "8 images 1x8x8" in capsys.readouterr().out
    _, data = load_shards(run)
    pngs = read_pngs(tmp_path / "x")
    assert pngs.dtype == torch.uint8 and torch.equal(pngs, data["sample_uint8"][:, 0])
    npz = np.load(tmp_path / "x" / "samples.npz")
    assert npz["arr_0"].shape == (8, 8, 8, 1) and np.array_equal(npz["arr_0"][..., 0], pngs.numpy())
    assert torch.equal(images.read_images(tmp_path / "x"), data["sample_uint8"])


def test_export_leaves_diverged_images_out(sampled, tmp_path):
    _, run = sampled
    shard_path = run / "shards" / "shard-00001.pt"
    shard = torch.load(shard_path, weights_only=True)
    shard["diverged"][0] = True
    torch.save(shard, tmp_path / "patched.pt")
    patched = tmp_path / "run"
    (patched / "shards").mkdir(parents=True)
    (patched / "spec.json").write_text((run / "spec.json").read_text())
    (patched / "shards" / "shard-00000.pt").write_bytes((run / "shards" / "shard-00000.pt").read_bytes())
    (patched / "shards" / "shard-00001.pt").write_bytes((tmp_path / "patched.pt").read_bytes())
    info = images.export_run(patched, tmp_path / "x")
    assert info["images"] == 7 and info["diverged_left_out"] == 1 and not (tmp_path / "x" / "000004.png").exists()


def test_generate_samples_the_cell_without_an_experiment(sampled, tmp_path, capsys):
    base, run = sampled
    cfg = yaml.safe_load((base / "config.yaml").read_text())
    cfg.pop("experiments")
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(cfg))
    argv = ["generate", "--config", str(tmp_path / "models.yaml"), "--model", "oracle", "--sampler", "simplified",
            "--seeds", "0-7", "--steps", "6", "--seed", "3", "--outdir", str(tmp_path / "g"), "--no-progress"]
    assert cli.main(argv) == 0
    assert "8 images" in capsys.readouterr().out
    _, data = load_shards(run)
    assert torch.equal(read_pngs(tmp_path / "g"), data["sample_uint8"][:, 0])   # per-image seeds: the same images
    spec = yaml.safe_load((tmp_path / "g" / "spec.json").read_text())
    assert spec["params"]["c"] == 0.5 and spec["params"]["T0"] == 0.4 and spec["schedule"] == "pretrained"  # schema
    assert cli.main(argv[:4] + ["nope"] + argv[5:]) == 2                         # bad input: one line, exit 2
    assert "--model 'nope': not under `models:`" in capsys.readouterr().err


def test_score_of_an_exported_folder_equals_the_run_metrics(sampled, tmp_path):
    _, run = sampled
    register_toy_extractor(TOY)
    images.export_run(run, tmp_path / "x")
    expected = evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY, write=False).set_index("metric")
    reference = images.parse_reference("dataset:digits/test/8", tmp_path / "cache")
    got = images.score_images(images.read_images(tmp_path / "x"), reference, tmp_path / "cache", extractor=TOY).set_index("metric")
    for metric in ("fid", "kid_mean", "precision", "recall"):
        assert got.loc[metric, "value"] == expected.loc[metric, "value"], metric
    assert got.loc["fid", "reference"] == "dataset:digits/test/8"
    # a folder as the reference: scoring a set against itself gives FID 0 (to rounding)
    self_ref = images.parse_reference(str(tmp_path / "x"), tmp_path / "cache")
    same = images.score_images(images.read_images(tmp_path / "x"), self_ref, tmp_path / "cache", extractor=TOY).set_index("metric")
    assert abs(same.loc["fid", "value"]) < 1e-6
    with pytest.raises(ValueError, match="dataset:NAME/SPLIT/RESOLUTION"):
        images.parse_reference("dataset:digits", tmp_path)
