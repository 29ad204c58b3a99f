"""A set metric is one function + one registry row (rwbench.metrics.set_protocol): the registry's generic rows are
well formed, class_entropy on the generic path is bitwise the old computation, and a metric registered here (a row
monkeypatched into the registry, its function in this file) reaches metrics.csv with its bootstrap interval exactly
when the run has its inputs."""

import math

import numpy as np
import pytest
import torch

from rwbench.data import to_uint8
from rwbench.io import write_json
from rwbench.metrics import evaluate as ev
from rwbench.metrics import extractors as ex
from rwbench.metrics import registry
from rwbench.metrics import set_protocol as sp
from rwbench.metrics import uncertainty
from rwbench.metrics.options import EvaluateOptions
from rwbench.run import rundir
from test_metrics_evaluate import TOY, uncond_shard, write_run
from toy_extractor import register_toy_extractor

F64 = torch.float64


@pytest.fixture(scope="module", autouse=True)
def toy_extractor():
    register_toy_extractor(TOY)


@pytest.fixture()
def reference(tmp_path):
    ref = to_uint8(torch.rand(120, 1, 8, 8, generator=torch.Generator().manual_seed(99)))
    torch.save(ref, tmp_path / "reference.pt")
    return {"kind": "file", "path": str(tmp_path / "reference.pt")}


# ---------------------------------------------------------------- metrics registered by the tests (the protocol)


def feature_mean_offset(inputs, counts=None):
    """|weighted mean of the generated features - the reference mean|^2."""
    w = torch.ones(inputs.n, dtype=F64) if counts is None else torch.as_tensor(counts, dtype=F64)
    mean = w @ inputs.features / w.sum()
    return float(((mean - torch.as_tensor(inputs.reference["mu"], dtype=F64)) ** 2).sum())


def mean_pixel(inputs, counts=None):
    """Weighted mean pixel of the float samples."""
    per_image = inputs.sample.double().flatten(1).mean(1)
    w = torch.ones(inputs.n, dtype=F64) if counts is None else torch.as_tensor(counts, dtype=F64)
    return float(w @ per_image / w.sum())


def first_component_share(inputs, counts=None):
    """Weighted mean responsibility of the oracle's first component (its weight for exact draws)."""
    from rwbench.models.oracle import mixture_responsibilities

    r = inputs.memo("r0", lambda: mixture_responsibilities(inputs.oracle, inputs.sample.double().flatten(1))[:, 0])
    w = torch.ones(inputs.n, dtype=F64) if counts is None else torch.as_tensor(counts, dtype=F64)
    return float(w @ r / w.sum())


def two_arguments_no_default(inputs, counts):
    return 0.0


NEW = {
    "feature_mean_offset": registry.Metric("feature mean offset", "", "lower", "squared feature distance (test)",
                                           kinds=("set",), function=f"{__name__}.feature_mean_offset",
                                           needs=("features",), note="|mean - mu_ref|^2"),
    "mean_pixel": registry.Metric("mean pixel", "[0, 1] pixel scale", kinds=("set",),
                                  function=f"{__name__}.mean_pixel", needs=("sample",)),
    "first_component_share": registry.Metric("share of component 0", "fraction", kinds=("set",),
                                             function=f"{__name__}.first_component_share", needs=("oracle", "sample")),
}


@pytest.fixture()
def new_metrics(monkeypatch):
    for name, row in NEW.items():
        monkeypatch.setitem(registry.METRICS, name, row)
    return NEW


# ---------------------------------------------------------------- the registry


def test_generic_rows_are_well_formed_and_their_functions_take_inputs_and_counts():
    names = registry.generic_set_names()
    assert "class_entropy" in names
    for name in names:
        row = registry.METRICS[name]
        assert row.kinds == ("set",) and row.needs and set(row.needs) <= set(registry.NEEDS), name
        assert callable(registry.set_function(name)), name
    # the set rows left off the generic path are the grouped ones, each with a function that computes it
    for name in registry.names("set"):
        assert registry.METRICS[name].function, name


@pytest.mark.parametrize("fields, message", [
    ({"needs": ("pixels",)}, "needs .* unknown"),
    ({"needs": "logits"}, "tuple"),
    ({"needs": ("logits",), "kinds": ("per-image",)}, "kinds=\\('set',\\)"),
    ({"needs": ("logits",), "kinds": ("set", "posterior")}, "kinds=\\('set',\\)"),
    ({"needs": ("logits",), "function": ""}, "module.name"),
    ({"needs": ("logits",), "function": "entropy"}, "module.name"),
    ({"note": "a note", "function": "a.b"}, "no needs"),
])
def test_malformed_rows_fail_when_built(fields, message):
    row = {"kinds": ("set",), "function": "rwbench.metrics.set_protocol.class_entropy", **fields}
    with pytest.raises(ValueError, match=message):
        registry.Metric("x", **row)


def test_a_row_whose_function_does_not_import_or_has_another_signature_fails_naming_it(monkeypatch):
    for function, message in ((f"{__name__}.no_such_function", "does not import"),
                              ("rwbench.metrics.no_such_module.fn", "does not import"),
                              (f"{__name__}.two_arguments_no_default", "must take \\(inputs, counts=None\\)"),
                              ("math.pi", "must take")):
        monkeypatch.setitem(registry.METRICS, "broken", registry.Metric("broken", kinds=("set",), function=function,
                                                                         needs=("uint8",)))
        with pytest.raises(ValueError, match=f"'broken'.*{message}"):
            registry.set_function("broken")


# ---------------------------------------------------------------- class_entropy: the old computation, bit for bit


def old_class_entropy(argmax, classes, counts=None):
    """evaluate.class_entropy before the generic path (copied here as the reference)."""
    hist = np.bincount(argmax, weights=counts, minlength=classes).astype(np.float64)
    hist = hist[hist > 0] / hist.sum()
    return float(-(hist * np.log(hist)).sum()) + 0.0


def test_class_entropy_formula_and_multiplicities():
    logits = torch.full((4, 3), -5.0, dtype=F64)
    logits[[0, 1, 2, 3], [0, 0, 1, 2]] = 5.0      # predicted classes 0, 0, 1, 2
    inputs = sp.SetInputs(uint8=torch.zeros(4, 1, 2, 2, dtype=torch.uint8), logits=logits)
    assert sp.class_entropy(inputs) == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)), abs=1e-15)
    # counts reweight the images: (0, 0, 2, 2) is a histogram (0, 1/2, 1/2); (3, 0, 0, 0) one class: exactly +0.0
    assert sp.class_entropy(inputs, np.array([0, 0, 2, 2])) == pytest.approx(math.log(2), abs=1e-15)
    one = sp.class_entropy(inputs, np.array([3, 0, 0, 0]))
    assert one == 0.0 and math.copysign(1.0, one) == 1.0
    assert sp.class_entropy(inputs, np.array([1, 0, 2, 1])) == sp.class_entropy(inputs)


def test_class_entropy_row_is_bitwise_the_old_computation(tmp_path, reference):
    run = write_run(tmp_path, "uncond__ce", [uncond_shard(0, 40, 1), uncond_shard(40, 40, 2, diverged_frac=0.1)],
                    {"reference": reference})
    row = ev.evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY).set_index("metric").loc["class_entropy"]
    # the old block: logits of the non-diverged images, argmax of the softmax, the shared bootstrap counts
    o = EvaluateOptions()
    info = ex.resolve_extractor(TOY)
    images = torch.cat([uncond_shard(0, 40, 1)["sample_uint8"], uncond_shard(40, 40, 2)["sample_uint8"][4:]])
    prepared, conversion = ex.prepare_uint8(images, TOY)
    feats = ex.extract_features(ex.build_extractor(info, [info.layer, "logits"], o.device), prepared, o.batch_size,
                                o.device)
    logits = feats["logits"].double()
    argmax, classes = torch.softmax(logits, dim=1).argmax(dim=1).numpy(), logits.shape[1]
    counts = uncertainty.bootstrap_counts(len(images), min(ev.SET_BOOT, o.n_boot), o.seed)
    value = old_class_entropy(argmax, classes)
    iv = uncertainty.replicate_interval(value, [old_class_entropy(argmax, classes, c) for c in counts])
    assert row["value"] == value and row["se"] == iv["se"] and row["se"] > 0
    assert row["ci_lo"] == iv["ci_lo"] and row["ci_hi"] == iv["ci_hi"]
    assert row["n"] == 76 and row["n_ref"] == 0 and row["reference"] == "" and row["unit"] == "nats"
    assert row["extractor"].startswith(f"{TOY}/logits@")
    assert row["conversion"] == conversion + "; entropy of the argmax histogram"


# ---------------------------------------------------------------- a new set metric: one function + one row


def test_a_new_set_metric_is_one_function_and_one_row(tmp_path, reference, new_metrics):
    run = write_run(tmp_path, "uncond__new", [uncond_shard(0, 40, 1), uncond_shard(40, 40, 2)], {"reference": reference})
    ev.evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY)
    table = rundir.read_metrics_csv(run / "metrics.csv").set_index("metric")
    assert "first_component_share" not in table.index        # needs an oracle: not an oracle run, left out
    feats, meta = rundir.read_features(run)
    from rwbench.metrics.reference import load_reference

    ref = load_reference(next((tmp_path / "cache").glob("file-reference-*.pt")))
    inputs = sp.SetInputs(uint8=torch.zeros(80, 1, 1, 1, dtype=torch.uint8), features=feats["features"], reference=ref)
    counts = uncertainty.bootstrap_counts(80, min(ev.SET_BOOT, EvaluateOptions().n_boot), 0)
    value, reps = sp.compute(feature_mean_offset, inputs, counts)
    iv = uncertainty.replicate_interval(value, reps)
    r = table.loc["feature_mean_offset"]
    assert r["value"] == pytest.approx(value, rel=1e-12) and r["se"] == pytest.approx(iv["se"], rel=1e-9)
    assert r["ci_lo"] == pytest.approx(iv["ci_lo"], rel=1e-9) and r["ci_hi"] == pytest.approx(iv["ci_hi"], rel=1e-9)
    assert r["se"] > 0 and r["ci_lo"] < r["value"] < r["ci_hi"]
    assert r["unit"] == "squared feature distance (test)" and r["n"] == 80 and r["n_ref"] == 120
    assert r["reference"] == table.loc["fid", "reference"] and r["extractor"] == table.loc["fid", "extractor"]
    assert r["conversion"].endswith("; |mean - mu_ref|^2")
    # needs ("sample",): the mean pixel of the float samples, with its columns
    x = torch.cat([uncond_shard(0, 40, 1)["sample"], uncond_shard(40, 40, 2)["sample"]]).double()
    m = table.loc["mean_pixel"]
    assert m["value"] == pytest.approx(float(x.mean()), rel=1e-12)
    assert m["se"] == pytest.approx(float(x.flatten(1).mean(1).std()) / math.sqrt(80), rel=0.25)
    assert m["ci_lo"] < m["value"] < m["ci_hi"] and m["unit"] == "[0, 1] pixel scale" and m["n_ref"] == 0
    assert m["conversion"] == "float samples on [0, 1]" and m["extractor"] == "" and m["reference"] == ""
    # too many images diverged: no extractor ran, the generic set metrics are left out like the other set metrics
    bad = write_run(tmp_path, "uncond__bad", [uncond_shard(0, 20, 3, diverged_frac=0.8)], {"reference": reference})
    frame = ev.evaluate_run(bad, reference_cache=tmp_path / "cache", extractor=TOY).set_index("metric")
    assert math.isnan(frame.loc["fid", "value"])
    assert not {"feature_mean_offset", "mean_pixel", "class_entropy"} & set(frame.index)


def test_a_new_oracle_set_metric_runs_on_oracle_cells(tmp_path, new_metrics):
    from rwbench.models.oracle import GaussianMixtureDenoiser, mixture_responsibilities

    g = torch.Generator().manual_seed(0)
    means = 0.5 + 0.15 * torch.randn(2, 64, generator=g, dtype=F64)
    oracle = GaussianMixtureDenoiser(torch.tensor([0.6, 0.4], dtype=F64), means,
                                     torch.stack([0.01 * torch.eye(64, dtype=F64)] * 2), sample_shape=(1, 8, 8))
    (tmp_path / "oracle").mkdir()
    oracle.save(tmp_path / "oracle" / "digits-gmm.safetensors")
    torch.save(to_uint8(oracle.sample(100, generator=torch.Generator().manual_seed(1))), tmp_path / "oref.pt")
    run = tmp_path / "runs" / "uncond__oracle"
    write_json(run / "spec.json", {"run_id": "uncond__oracle", "task": "uncond", "n_images": 30, "channels": 1,
                                   "dataset": "digits", "family": "oracle", "checkpoint": str(tmp_path / "oracle"),
                                   "reference": {"kind": "file", "path": str(tmp_path / "oref.pt")}, "n_shards": 1})
    x = oracle.sample(30, generator=torch.Generator().manual_seed(5)).float()
    rundir.save_torch({"index": torch.arange(30), "sample": x, "sample_uint8": to_uint8(x),
                       "diverged": torch.zeros(30, dtype=torch.bool)}, rundir.shard_path(run, 0))
    frame = ev.evaluate_run(run, reference_cache=tmp_path / "cache", extractor=TOY).set_index("metric")
    r = frame.loc["first_component_share"]
    want = mixture_responsibilities(oracle, x.double().flatten(1))[:, 0].mean().item()
    assert r["value"] == pytest.approx(want, rel=1e-12) and r["n"] == 30
    assert r["se"] > 0 and r["ci_lo"] < r["value"] < r["ci_hi"]
    assert r["reference"] == "exact_mixture" and r["unit"] == "fraction"
    assert {"feature_mean_offset", "mean_pixel", "class_entropy", "energy_distance"} <= set(frame.index)
