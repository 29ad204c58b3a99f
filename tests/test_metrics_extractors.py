"""Feature extractors: Inception weights resolution and errors, the digits-classifier extractor, input conversion."""

import math
import urllib.error

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from rwbench.io import file_sha256
from rwbench.metrics import extractors as ex


class ToyClassifier(torch.nn.Module):
    """Stand-in with the DigitsClassifier interface: features(x) [B, 8] and forward(x) -> logits [B, 10]."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 10)

    def features(self, x):
        assert x.dtype == torch.float32 and x.shape[1] == 1 and 0 <= x.min() and x.max() <= 1
        return torch.relu(self.conv(x)).mean(dim=(2, 3))

    def forward(self, x):
        return self.head(self.features(x))


def random_inception_weights(path):
    """Save a randomly initialised torch-fidelity InceptionV3 state_dict (no download: loading is bypassed)."""
    original = FeatureExtractorInceptionV3.load_state_dict
    try:
        FeatureExtractorInceptionV3.load_state_dict = lambda self, state_dict, *a, **k: None
        import torch_fidelity.feature_extractor_inceptionv3 as module

        saved_url_loader = module.load_state_dict_from_url
        module.load_state_dict_from_url = lambda *a, **k: {}
        try:
            torch.manual_seed(0)
            net = FeatureExtractorInceptionV3(ex.INCEPTION, ["2048"])
        finally:
            module.load_state_dict_from_url = saved_url_loader
    finally:
        FeatureExtractorInceptionV3.load_state_dict = original
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture()
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(ex.INCEPTION_ENV, raising=False)
    return tmp_path / "torch"


def test_missing_inception_weights_one_line_error(empty_torch_home, monkeypatch):
    with pytest.raises(FileNotFoundError) as err:
        ex.resolve_extractor(ex.INCEPTION, allow_download=False)
    message = str(err.value)
    assert "\n" not in message
    assert str(empty_torch_home / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth") in message
    assert ex.INCEPTION_ENV in message and "--extractor-weights" in message and "feature_extractor_weights_path" in message

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(FileNotFoundError, match="could not be downloaded"):
        ex.resolve_extractor(ex.INCEPTION, allow_download=True)
    monkeypatch.setenv(ex.INCEPTION_ENV, str(empty_torch_home / "nope.pth"))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        ex.resolve_extractor(ex.INCEPTION)


def test_inception_from_a_weights_file_the_test_creates(empty_torch_home, tmp_path, monkeypatch):
    weights = random_inception_weights(tmp_path / "inception-random.pth")
    monkeypatch.setenv(ex.INCEPTION_ENV, str(weights))
    info = ex.resolve_extractor(ex.INCEPTION)
    assert info.weights_path == str(weights) and info.weights_sha256 == file_sha256(weights)
    assert info.layer == "2048" and "299" in info.resize_filter
    extractor = ex.build_extractor(info)
    gray = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    rgb, conversion = ex.prepare_uint8(gray, ex.INCEPTION)
    assert rgb.shape == (2, 3, 16, 16) and "gray->rgb replicate" in conversion and "299" in conversion
    features = ex.extract_features(extractor, rgb)["2048"]
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    # the hub-cache location is found without the option
    monkeypatch.delenv(ex.INCEPTION_ENV)
    cached = empty_torch_home / "hub" / "checkpoints" / ex.INCEPTION_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights.read_bytes())
    assert ex.resolve_extractor(ex.INCEPTION, allow_download=False).weights_path == str(cached)


def test_module_extractor_interface_and_conversion(tmp_path):
    torch.manual_seed(0)
    net = ToyClassifier()
    path = tmp_path / "toy.pt"
    torch.save(net.state_dict(), path)

    def loader(weights):
        model = ToyClassifier()
        model.load_state_dict(torch.load(weights, weights_only=True))
        return model

    ex.make_module_extractor("rwbench-test-toy", loader)
    info = ex.resolve_extractor("rwbench-test-toy", path)
    assert info.layer == "features" and info.weights_sha256 == file_sha256(path)
    extractor = ex.build_extractor(info, ["features", "logits"])
    gray = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    prepared, conversion = ex.prepare_uint8(gray, "rwbench-test-toy")
    assert prepared.shape[1] == 1 and "gray->rgb" not in conversion
    out = ex.extract_features(extractor, prepared, batch_size=2)
    from rwbench.data import from_uint8

    with torch.no_grad():
        assert torch.allclose(out["features"], net.features(from_uint8(gray)))
        assert torch.allclose(out["logits"], net(from_uint8(gray)))
    # replicated RGB input: channel 0 is used, same features
    rgb = ex.extract_features(extractor, gray.expand(-1, 3, -1, -1).contiguous())
    assert torch.allclose(rgb["features"], out["features"])


def test_digits_extractor_needs_a_checkpoint(monkeypatch, tmp_path):
    monkeypatch.delenv(ex.DIGITS_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=ex.DIGITS_ENV):
        ex.resolve_extractor(ex.DIGITS)
    monkeypatch.setenv(ex.DIGITS_ENV, str(tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ex.resolve_extractor(ex.DIGITS)


def test_digits_cnn_with_the_project_classifier(tmp_path, monkeypatch):
    import json

    from safetensors.torch import save_file

    classifier = pytest.importorskip("rwbench.nets.classifier")
    from rwbench.data import from_uint8

    torch.manual_seed(0)
    net = classifier.DigitsClassifier().eval()
    out_dir = tmp_path / "classifier"
    out_dir.mkdir()
    save_file(net.state_dict(), str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps({"net": net.config}))
    monkeypatch.setenv(ex.DIGITS_ENV, str(out_dir))
    info = ex.resolve_extractor(ex.DIGITS)
    assert info.weights_sha256 == file_sha256(out_dir / "model.safetensors") and info.layer == "features"
    extractor = ex.build_extractor(info, ["features", "logits"])
    gray = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    prepared, conversion = ex.prepare_uint8(gray, ex.DIGITS)
    assert "gray->rgb" not in conversion
    out = ex.extract_features(extractor, prepared)
    with torch.no_grad():
        assert torch.allclose(out["features"], net.features(from_uint8(gray)))
        assert torch.allclose(out["logits"], net(from_uint8(gray)))


def test_unknown_extractor_and_bad_input():
    with pytest.raises(ValueError, match="not registered"):
        ex.resolve_extractor("no-such-net")
    with pytest.raises(ValueError, match="uint8"):
        ex.prepare_uint8(torch.zeros(1, 1, 4, 4), ex.INCEPTION)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        ex.prepare_uint8(torch.zeros(1, 2, 4, 4, dtype=torch.uint8), ex.INCEPTION)


@pytest.mark.slow
def test_evaluate_with_inception_weights_file(empty_torch_home, tmp_path):
    from rwbench.data import to_uint8
    from rwbench.io import write_json
    from rwbench.metrics.evaluate import evaluate_run

    weights = random_inception_weights(tmp_path / "inception-random.pth")
    gen = torch.Generator().manual_seed(0)
    reference = tmp_path / "ref.pt"
    torch.save(to_uint8(torch.rand(12, 1, 16, 16, generator=gen)), reference)
    run = tmp_path / "run"
    write_json(run / "spec.json", {"run_id": "uncond__incep", "dataset": "faces", "n_shards": 1,
                                   "reference": {"kind": "file", "path": str(reference)}})
    x = torch.rand(10, 1, 16, 16, generator=gen)
    (run / "shards").mkdir()
    torch.save({"index": torch.arange(10), "sample_uint8": to_uint8(x), "diverged": torch.zeros(10, dtype=torch.bool)},
               run / "shards" / "shard-00000.pt")
    with pytest.raises(FileNotFoundError, match="weights-inception-2015-12-05-6726825d.pth"):
        evaluate_run(run, reference_cache=tmp_path / "cache", allow_download=False)
    frame = evaluate_run(run, reference_cache=tmp_path / "cache", extractor_weights=str(weights)).set_index("metric")
    sha = file_sha256(weights)
    assert frame.loc["fid", "extractor"] == f"{ex.INCEPTION}/2048@{sha[:12]}"
    assert "gray->rgb replicate" in frame.loc["fid", "conversion"] and frame.loc["fid", "n"] == 10
    assert math.isfinite(frame.loc["fid", "value"]) and "confident_share" not in frame.index
    cache = list((tmp_path / "cache").glob("*.pt"))
    assert len(cache) == 1 and torch.load(cache[0], weights_only=True)["weights_sha256"] == sha


def test_digits_cnn_defaults_to_the_classifier_the_dag_trained(tmp_path, monkeypatch):
    """No weights given and no $RWBENCH_DIGITS_CLASSIFIER: digits-cnn uses <results_dir>/embedded/classifier (what the
    default DAG trains), and says so through the weights' hash in its label; without it, one line says what to do."""
    import json

    from rwbench.io import save_safetensors
    from rwbench.nets.classifier import DigitsClassifier

    monkeypatch.delenv(ex.DIGITS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="run the default DAG"):
        ex.resolve_extractor(ex.DIGITS)
    torch.manual_seed(0)
    net = DigitsClassifier().eval()
    folder = tmp_path / "results" / "embedded" / "classifier"
    save_safetensors(folder / "model.safetensors", net.state_dict())
    (folder / "config.json").write_text(json.dumps({"net": net.config}))
    info = ex.resolve_extractor(ex.DIGITS)
    assert info.weights_sha256 == file_sha256(folder / "model.safetensors")
    assert info.label().endswith(info.weights_sha256[:12])
