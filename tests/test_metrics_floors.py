"""`rwbench floors` (real-data floors disjoint from the reference, exact-sampler floors) and evaluate on an oracle cell."""

import math
import types

import pandas as pd
import pytest
import torch

from rwbench.run import rundir
from rwbench.data import to_uint8
from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.metrics import floors, registry
from toy_extractor import register_toy_extractor

TOY = "rwbench-test-toy-floors"
F64 = torch.float64


@pytest.fixture(scope="module", autouse=True)
def toy_extractor():
    register_toy_extractor(TOY)


@pytest.fixture()
def fake_digits(monkeypatch):
    """digits train = images with a bright pixel in row 0 (value 200 + k), test = row 1: tells the splits apart."""
    import rwbench.data

    def make(split, n):
        images = to_uint8(torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(len(split))) * 0.5)
        images[:, 0, 0 if split == "train" else 1, 0] = 255
        return images

    sets = {"train": make("train", 90), "test": make("test", 40)}
    monkeypatch.setattr(rwbench.data, "load_dataset",
                        lambda name, split, resolution, seed=0, **kw: types.SimpleNamespace(images=sets[split]))
    return sets


def test_real_floor_draws_come_from_the_disjoint_split(fake_digits):
    spec = {"task": "uncond", "n_images": 30, "reference": {"kind": "dataset", "dataset": "digits", "split": "train",
                                                             "resolution": 8}}
    source, pool, draw, oracle = floors.floor_source(spec)
    assert source == "real:digits/test" and pool == 40 and oracle is None
    images, _ = draw(30, torch.Generator().manual_seed(0))
    assert (images[:, 0, 1, 0] == 255).all() and len(torch.unique(images.reshape(30, -1), dim=0)) == 30
    with pytest.raises(ValueError, match="n = 41 > 40"):
        draw(41, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="disjoint"):
        floors.floor_source(dict(spec, reference=dict(spec["reference"], split="all")))


def test_floors_table(fake_digits, tmp_path):
    ref = {"kind": "dataset", "dataset": "digits", "split": "train", "resolution": 8}
    specs = [{"task": "uncond", "n_images": n, "channels": 1, "dataset": "digits", "family": "vp", "reference": ref}
             for n in (20, 20, 30)] + [{"task": "sr", "n_images": 8, "reference": {"kind": "ground_truth"}}]
    rows = floors.compute_floors(specs, tmp_path / "cache", TOY, draws=10)
    frame = rundir.write_floors(tmp_path / "floors.csv", rows)
    back = rundir.read_floors(tmp_path / "floors.csv")
    assert list(back.columns) == rundir.FLOOR_COLUMNS and len(back) == len(frame) == 4      # 2 n x (fid, kid)
    assert set(back["n"]) == {20, 30} and (back["draws"] == 10).all() and (back["sd"] > 0).all()
    assert (back["n_ref"] == 90).all() and set(back["source"]) == {"real:digits/test"}
    mean, sd = rundir.floor_of(back, "dataset:digits/train/8", 20, "fid")
    assert mean > 0 and sd > 0
    with pytest.raises(ValueError, match="at least 10"):
        floors.compute_floors(specs, tmp_path / "cache", TOY, draws=5)


def _oracle_dir(tmp_path):
    g = torch.Generator().manual_seed(0)
    d = 64
    means = 0.5 + 0.15 * torch.randn(2, d, generator=g, dtype=F64)
    covs = torch.stack([0.01 * torch.eye(d, dtype=F64)] * 2)
    oracle = GaussianMixtureDenoiser(torch.tensor([0.6, 0.4], dtype=F64), means, covs, sample_shape=(1, 8, 8))
    folder = tmp_path / "oracle"
    folder.mkdir()
    oracle.save(folder / "digits-gmm.safetensors")
    ref_path = tmp_path / "oracle-reference.pt"
    torch.save(to_uint8(oracle.sample(300, generator=torch.Generator().manual_seed(1))), ref_path)
    return oracle, folder, {"kind": "file", "path": str(ref_path)}


def test_exact_floors_centre_on_zero_and_oracle_evaluate(tmp_path):
    from rwbench.io import write_json
    from rwbench.metrics.evaluate import evaluate_run
    from rwbench.metrics.distances import energy_distance

    oracle, folder, ref = _oracle_dir(tmp_path)
    spec = {"run_id": "uncond__oracle", "task": "uncond", "n_images": 40, "channels": 1, "dataset": "digits",
            "family": "oracle", "checkpoint": str(folder), "reference": ref, "n_shards": 1}
    rows = pd.DataFrame(floors.compute_floors([spec], tmp_path / "cache", TOY, draws=12)).set_index("metric")
    from rwbench.metrics.exact import EXACT_METRICS, mixture_moments

    assert set(rows.index) == {"fid", "kid_mean", *EXACT_METRICS}
    assert {"variance_ratio", "mean_offset", "mean_offset_sq", "occupancy_chi2", "component_variance_ratio",
            "component_ratio_maxdev"} <= set(EXACT_METRICS)
    assert (rows.loc[["variance_ratio", "mean_offset", "occupancy_chi2"], "n_ref"] == 0).all()
    # exact-draw bands at n = 40: ratios centre on 1, the unbiased squared offset on 0, |mean - mu| at most
    # sqrt(tr Sigma / n), the chi-square near (K - 1) / n = 1 / 40
    # (the floor's draws are seeded by the reference label, which holds tmp_path: bounds allow for any seed)
    for metric in ("variance_ratio", "component_variance_ratio"):
        assert abs(rows.loc[metric, "mean"] - 1.0) < 5 * rows.loc[metric, "sd"] / math.sqrt(12), metric
    # the U-statistic is skewed (one large eigenvalue: about lam_1 (chi2_1 - 1) / n), so a 12-draw sd understates
    # its spread; its exact sd for exact draws is sqrt(2 tr Sigma^2 / (n (n - 1)))
    cov = mixture_moments(oracle)["covariance"]
    sd_u = math.sqrt(2 * float(torch.trace(cov @ cov)) / (40 * 39))
    assert abs(rows.loc["mean_offset_sq", "mean"]) < 4 * sd_u / math.sqrt(12)
    floor_offset = math.sqrt(float(mixture_moments(oracle)["trace"]) / 40)
    offset = rows.loc["mean_offset"]         # E|xbar - mu| <= sqrt(E|xbar - mu|^2) = sqrt(tr Sigma / n) (Jensen)
    assert 0.5 * floor_offset < offset["mean"] < floor_offset + 4 * offset["sd"] / math.sqrt(12)
    assert 0 < rows.loc["occupancy_chi2", "mean"] < 4 / 40
    assert (rows["source"] == "exact:digits-oracle").all()
    # unbiased statistics centre on 0 for exact draws: within one draw's sd (the fixed reference set shifts all draws
    # alike, so no tighter bound holds for KID and the energy distance); the log p gap only shares the MC constant
    for metric in ("energy_distance", "kid_mean"):
        assert abs(rows.loc[metric, "mean"]) < rows.loc[metric, "sd"], metric
    from rwbench.metrics.exact import ENTROPY_DRAWS

    logp = rows.loc["logp_gap"]
    mc_se = logp["sd"] * math.sqrt(40 / ENTROPY_DRAWS)                  # per-image sd / sqrt(draws of the constant)
    assert abs(logp["mean"]) < 4 * math.hypot(logp["sd"] / math.sqrt(12), mc_se)
    assert rows.loc["occupancy_tv", "mean"] > 0 and rows.loc["fid", "mean"] > 0
    # an oracle cell: exact samples at the wrong temperature (x 1.6 spread around the means)
    x = oracle.sample(40, generator=torch.Generator().manual_seed(5)).float()
    x = oracle.mean.reshape(1, 1, 8, 8).float() + 1.6 * (x - oracle.mean.reshape(1, 1, 8, 8).float())
    run = tmp_path / "runs" / "uncond__oracle"
    write_json(run / "spec.json", spec)
    rundir.save_torch({"index": torch.arange(40), "sample": x, "sample_uint8": to_uint8(x),
                       "diverged": torch.zeros(40, dtype=torch.bool)}, rundir.shard_path(run, 0))
    frame = evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY, lpips=False).set_index("metric")
    for metric in EXACT_METRICS:
        r = frame.loc[metric]
        assert r["n"] == 40 and r["ci_lo"] <= r["value"] <= r["ci_hi"] and r["se"] > 0, metric
        assert r["unit"] or registry.better(metric) == "", metric
    # x 1.6 around the mixture mean: variance ratio 2.56 (se = sd of the per-image ratios / sqrt(n))
    vr = frame.loc["variance_ratio"]
    assert vr["ci_lo"] > 1 and abs(vr["value"] - 2.56) < 4 * vr["se"]
    flat = x.double().reshape(40, -1) - oracle.mean
    per_image = (flat ** 2).sum(1) / float(mixture_moments(oracle)["trace"])
    assert vr["value"] == pytest.approx(float(per_image.mean()), rel=1e-6)
    assert vr["se"] == pytest.approx(float(per_image.std()) / math.sqrt(40), rel=1e-6)
    assert frame.loc["energy_distance", "n_ref"] == 300
    ref_images = torch.load(ref["path"], weights_only=True)
    want = energy_distance(to_uint8(x).double() / 255, ref_images.double() / 255)
    assert frame.loc["energy_distance", "value"] == pytest.approx(want, rel=1e-10)
    assert frame.loc["logp_gap", "ci_hi"] < 0 and frame.loc["energy_distance", "ci_lo"] > 0   # too hot: detected
    feats, meta = rundir.read_features(run)
    assert feats["responsibility"].shape == (40, 2) and feats["energy_within"].shape == (40, 40)
    # per-image moment inputs, paired by index: the ratio per image and the most probable component
    assert torch.allclose(feats["variance_ratio"], per_image, rtol=1e-6)
    assert torch.equal(feats["component"], feats["responsibility"].argmax(1))
    assert float(meta["variance_trace"]) == pytest.approx(float(mixture_moments(oracle)["trace"]), rel=1e-12)
    again = (feats["log_density"].mean() - float(meta["logp_mean"])).item()
    assert again == pytest.approx(frame.loc["logp_gap", "value"], rel=1e-12)
