"""`rwbench evaluate` / `rwbench aggregate` on run directories built by the tests (docs/run-layout.md)."""

import math

import pandas as pd
import pytest
import torch

from rwbench.data import to_uint8
from rwbench.io import write_json
from rwbench.metrics import aggregate as agg
from rwbench.metrics import evaluate as ev
from rwbench.metrics import extractors as ex
from rwbench.metrics import fidelity
from rwbench.metrics import image_quality as iq
from toy_extractor import register_toy_extractor

TOY = "rwbench-test-toy-eval"


@pytest.fixture(scope="module", autouse=True)
def toy_extractor():
    register_toy_extractor(TOY)


def write_run(root, run_id, shards, spec_extra):
    run = root / run_id
    n = sum(len(s["index"]) for s in shards)
    spec = {"run_id": run_id, "dataset": "digits", "channels": 1, "resolution": 8, "sampler": "simplified",
            "params": {"c": 0.7, "T0": 0.1}, "task": "uncond", "task_params": {}, "seed": 0, "n_images": n,
            "samples_per_target": 1, "n_shards": len(shards), "data_range": [0, 1]}
    spec.update(spec_extra)
    write_json(run / "spec.json", spec)
    for i, shard in enumerate(shards):
        (run / "shards").mkdir(parents=True, exist_ok=True)
        torch.save(shard, run / "shards" / f"shard-{i:05d}.pt")
    return run


def uncond_shard(start, n, seed, diverged_frac=0.0):
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    diverged = torch.arange(n) < int(diverged_frac * n)
    index = torch.arange(start, start + n)
    return {"index": index, "target": index.clone(), "sample": x, "sample_uint8": to_uint8(x), "diverged": diverged}


@pytest.fixture()
def reference(tmp_path):
    ref = to_uint8(torch.rand(120, 1, 8, 8, generator=torch.Generator().manual_seed(99)))
    path = tmp_path / "reference.pt"
    torch.save(ref, path)
    return {"kind": "file", "path": str(path)}, ref


def test_unconditional_run(tmp_path, reference):
    ref_spec, ref_images = reference
    run = write_run(tmp_path, "uncond__toy", [uncond_shard(0, 40, 1), uncond_shard(40, 40, 2)], {"reference": ref_spec})
    frame = ev.evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY)
    on_disk = pd.read_csv(run / "metrics.csv", keep_default_na=False, na_values=["nan", ""])
    assert list(on_disk.columns) == ev.COLUMNS
    assert len(on_disk) == len(frame)
    row = frame.set_index("metric")
    for metric in ("fid", "kid_mean", "precision", "recall", "diverged_fraction", "confident_share", "class_entropy"):
        assert metric in row.index, metric
    assert row.loc["fid", "n"] == 80 and row.loc["fid", "n_ref"] == 120 and row.loc["kid_mean", "n_ref"] == 120
    for metric in ("fid", "kid_mean", "class_entropy"):   # every estimate carries its interval
        r = row.loc[metric]
        assert r["se"] > 0 and r["ci_lo"] < r["value"] < r["ci_hi"] and r["unit"], metric
    assert row.loc["diverged_fraction", "unit"] == "fraction of images"
    assert row.loc["diverged_fraction", "value"] == 0.0
    assert row.loc["fid", "reference"].startswith("file:") and row.loc["fid", "extractor"].startswith(f"{TOY}/features")
    assert row.loc["fid", "conversion"].startswith("uint8")
    # FID equals a direct computation on the same features
    extractor = ex.build_extractor(ex.resolve_extractor(TOY))
    samples = torch.cat([uncond_shard(0, 40, 1)["sample_uint8"], uncond_shard(40, 40, 2)["sample_uint8"]])
    fs = ex.extract_features(extractor, samples)["features"]
    fr = ex.extract_features(extractor, ref_images)["features"]
    direct = fidelity.fid_from_statistics(fidelity.feature_statistics(fs), fidelity.feature_statistics(fr))
    assert row.loc["fid", "value"] == pytest.approx(direct, rel=1e-6)
    # per-image features for resampling: the same FID and KID through the one path
    from rwbench.run import rundir
    from rwbench.metrics.reference import load_reference

    feats, meta = rundir.read_features(run)
    assert torch.equal(feats["index"], torch.arange(80)) and feats["features"].dtype == torch.float64
    cache = load_reference(next((tmp_path / "cache").glob("file-reference-*.pt")))
    again = fidelity.set_metrics(feats["features"], cache)
    assert again["fid"] == pytest.approx(row.loc["fid", "value"], rel=1e-12)
    assert again["kid"] == pytest.approx(row.loc["kid_mean", "value"], rel=1e-12)
    assert meta["reference"] == row.loc["fid", "reference"]
    assert list((tmp_path / "cache").glob("file-reference-*.pt"))


def test_diverged_run_records_nan_and_diverged_row(tmp_path, reference):
    run = write_run(tmp_path, "uncond__bad", [uncond_shard(0, 20, 3, diverged_frac=0.8)], {"reference": reference[0]})
    frame = ev.evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY).set_index("metric")
    assert frame.loc["diverged_fraction", "value"] == pytest.approx(0.8)
    assert frame.loc["diverged", "value"] == 1.0
    assert math.isnan(frame.loc["fid", "value"]) and math.isnan(frame.loc["kid_mean", "value"])


def test_partially_diverged_run_uses_finite_images(tmp_path, reference):
    run = write_run(tmp_path, "uncond__some", [uncond_shard(0, 40, 4, diverged_frac=0.25)], {"reference": reference[0]})
    frame = ev.evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY).set_index("metric")
    assert frame.loc["fid", "n"] == 30 and "diverged" not in frame.index
    assert math.isfinite(frame.loc["fid", "value"])


def inverse_shards(n_targets=6, spt=3, c=1, side=16):
    gen = torch.Generator().manual_seed(5)
    gt = torch.rand(n_targets, c, side, side, generator=gen)
    target = torch.arange(n_targets).repeat_interleave(spt)
    x = gt[target] + 0.1 * torch.randn(len(target), c, side, side, generator=gen)
    index = torch.arange(len(target))
    diverged = torch.zeros(len(target), dtype=torch.bool)
    diverged[1] = True
    x[1] = float("nan")
    shard = {"index": index, "target": target, "sample": x, "sample_uint8": to_uint8(x), "diverged": diverged,
             "ground_truth": gt[target], "measurement": gt[target][:, :, ::4, ::4], "exact_mmse": gt[target]}
    half = len(index) // 2
    return [{k: v[:half] for k, v in shard.items()}, {k: v[half:] for k, v in shard.items()}], x, gt, target


def test_inverse_run_psnr_ssim_and_mean_of_samples(tmp_path):
    shards, x, gt, target = inverse_shards()
    run = write_run(tmp_path, "sr__toy", shards, {"task": "sr", "samples_per_target": 3, "n_targets": 6})
    frame = ev.evaluate_run(run, lpips=False, n_boot=200).set_index("metric")
    ok = torch.ones(len(x), dtype=torch.bool)
    ok[1] = False
    expected = iq.psnr(x[ok], gt[target][ok])
    assert frame.loc["psnr", "value"] == pytest.approx(expected.mean().item())
    assert frame.loc["psnr", "n"] == 17
    # se over targets (6 targets x 3 samples are clusters, not 17 independent images): sd of the target means / sqrt(6)
    tmeans = torch.stack([expected[target[ok] == t].mean() for t in range(6)])
    assert frame.loc["psnr", "se"] == pytest.approx(tmeans.std().item() / math.sqrt(6))
    assert frame.loc["psnr", "ci_lo"] < frame.loc["psnr", "value"] < frame.loc["psnr", "ci_hi"]
    assert frame.loc["psnr", "unit"] == "dB" and not any(m.endswith("_se") for m in frame.index)
    assert frame.loc["psnr_minmax", "value"] == pytest.approx(iq.psnr_minmax(x[ok], gt[target][ok]).mean().item())
    assert frame.loc["ssim", "value"] == pytest.approx(iq.ssim(x[ok], gt[target][ok]).mean().item())
    assert frame.loc["psnr", "conversion"] == iq.STANDARD and frame.loc["psnr_minmax", "conversion"] == iq.MINMAX
    means = torch.stack([x[ok & (target == t)].mean(0) for t in range(6)])
    assert frame.loc["psnr_mean_of_samples", "value"] == pytest.approx(iq.psnr(means, gt).mean().item())
    assert frame.loc["psnr_mean_of_samples", "n"] == 6
    assert frame.loc["psnr_mean_of_samples", "value"] > frame.loc["psnr", "value"]  # averaging removes noise
    assert math.isinf(frame.loc["psnr_exact_mmse", "value"])
    assert frame.loc["diverged_fraction", "value"] == pytest.approx(1 / 18)
    per_image = pd.read_csv(run / "metrics-per-image.csv")
    assert len(per_image) == 18 and math.isnan(per_image.loc[1, "psnr"])
    assert "lpips" not in frame.index


def test_inverse_run_with_lpips_enabled_but_missing_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    shards, *_ = inverse_shards()
    run = write_run(tmp_path, "sr__lp", shards, {"task": "sr", "samples_per_target": 3})
    with pytest.raises(FileNotFoundError, match="alexnet-owt-7be5be79.pth"):
        ev.evaluate_run(run, lpips=True)
    assert not (run / "metrics.csv").exists()


def test_missing_shards_and_cli(tmp_path):
    shards, *_ = inverse_shards()
    run = write_run(tmp_path, "sr__cli", shards, {"task": "sr", "samples_per_target": 3})
    (run / "shards" / "shard-00001.pt").unlink()
    with pytest.raises(ValueError, match="1 of 2 shards"):
        ev.evaluate_run(run, lpips=False)
    from rwbench.cli import main

    assert main(["evaluate", "--run", str(run), "--no-lpips", "--allow-partial", "--n-boot", "50"]) == 0
    assert (run / "metrics.csv").is_file()


def test_aggregate_joins_flattened_spec(tmp_path, reference):
    shards, *_ = inverse_shards()
    a = write_run(tmp_path / "runs", "sr__a", shards, {"task": "sr", "samples_per_target": 3, "params": {"c": 0.5}})
    b = write_run(tmp_path / "runs", "uncond__b", [uncond_shard(0, 30, 6)], {"reference": reference[0]})
    ev.evaluate_run(a, lpips=False, n_boot=50)
    ev.evaluate_run(b, reference_cache=tmp_path / "cache", extractor=TOY)
    out = tmp_path / "results" / "metrics.csv"
    from rwbench.cli import main

    assert main(["aggregate", "--runs-dir", str(tmp_path / "runs"), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert set(table["run_id"]) == {"sr__a", "uncond__b"}
    assert {"params_c", "params_T0", "reference_kind", "reference_path", "sampler", "data_range"} <= set(table.columns)
    assert set(table.loc[table.run_id == "sr__a", "params_c"]) == {0.5}
    assert set(table.loc[table.run_id == "uncond__b", "params_c"]) == {0.7}
    n_rows = len(pd.read_csv(a / "metrics.csv")) + len(pd.read_csv(b / "metrics.csv"))
    assert len(table) == n_rows
    assert agg.flatten({"p": {"q": {"r": 1}}, "l": [1, 2]}) == {"p_q_r": 1, "l": "[1, 2]"}
    with pytest.raises(FileNotFoundError, match="rwbench evaluate"):
        agg.run_table(tmp_path / "runs" / "nothing")


def test_dataset_reference_through_load_dataset_and_reference_cli(tmp_path, monkeypatch, capsys):
    import types

    import rwbench.data
    from rwbench import cli
    from rwbench.metrics import reference as rf

    calls = []
    images = to_uint8(torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(7)))

    def load_dataset(name, split, resolution, seed=0):
        calls.append((name, split, resolution, seed))
        return types.SimpleNamespace(images=images, labels=None)

    monkeypatch.setattr(rwbench.data, "load_dataset", load_dataset, raising=False)
    ref = {"kind": "dataset", "dataset": "digits", "split": "test", "resolution": 8}
    assert rf.reference_label(ref) == "dataset:digits/test/8"
    expected = rf.reference_cache_path(ref, TOY, 1, tmp_path / "cache")
    assert expected.name.startswith(f"digits-test-r8__{TOY}__1ch-")
    assert cli.main(["reference", "--dataset", "digits", "--split", "test", "--resolution", "8", "--extractor", TOY,
                    "--reference-cache", str(tmp_path / "cache")]) == 0
    assert capsys.readouterr().out.strip() == str(expected) and expected.is_file()
    assert calls == [("digits", "test", 8, 0)]
    run = write_run(tmp_path, "uncond__ds", [uncond_shard(0, 30, 8)], {"reference": ref})
    frame = ev.evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY).set_index("metric")
    assert len(calls) == 1  # statistics came from the cache, the dataset was not loaded again
    assert frame.loc["fid", "reference"] == "dataset:digits/test/8" and frame.loc["fid", "n_ref"] == 50


def test_cli_evaluate_with_digits_cnn(tmp_path, reference):
    import json

    from safetensors.torch import save_file

    classifier = pytest.importorskip("rwbench.nets.classifier")
    from rwbench.cli import main

    torch.manual_seed(0)
    net = classifier.DigitsClassifier()
    weights = tmp_path / "clf.safetensors"
    save_file(net.state_dict(), str(weights))
    weights.with_suffix(".json").write_text(json.dumps({"net": net.config}))
    run = write_run(tmp_path, "uncond__digits", [uncond_shard(0, 30, 9)], {"reference": reference[0]})
    assert main(["evaluate", "--run", str(run), "--reference-cache", str(tmp_path / "cache"), "--extractor-weights",
                 str(weights)]) == 0
    frame = pd.read_csv(run / "metrics.csv").set_index("metric")
    assert frame.loc["fid", "extractor"].startswith("digits-cnn/features@")
    assert 0 <= frame.loc["confident_share", "value"] <= 1
    assert 0 <= frame.loc["class_entropy", "value"] <= math.log(10) + 1e-9
    assert frame.loc["confident_share", "extractor"].startswith("digits-cnn/logits@")
