import json

import pytest
import torch

from rwbench import training
from rwbench.training import config
from rwbench.nets.classifier import DigitsClassifier, load_classifier


def test_shapes_and_features():
    net = DigitsClassifier(width=8, feature_dim=16)
    for res in (16, 32):
        x = torch.rand(5, 1, res, res)
        assert net(x).shape == (5, 10)
        f = net.features(x)
        assert f.shape == (5, 16) and (f >= 0).all()
        assert torch.allclose(net.out(f), net(x))
    with pytest.raises(ValueError, match="x"):
        net.features(torch.rand(2, 3, 16, 16))


def test_smoke_training_and_loading_from_dir_or_file(tmp_path):
    smoke = config.load_embedded_config("config/embedded-smoke.yaml")
    meta = training.train_model(smoke, "classifier", tmp_path, progress=False)
    assert 0.0 <= meta["test_accuracy"] <= 1.0 and meta["n_test"] == 359
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["net"] == {"width": 8, "feature_dim": 16, "num_classes": 10, "in_channels": 1}
    a, b = load_classifier(tmp_path), load_classifier(tmp_path / "model.safetensors")
    assert not a.training and not any(p.requires_grad for p in a.parameters())
    x = torch.rand(3, 1, 16, 16)
    assert torch.equal(a(x), b(x)) and a.test_accuracy == meta["test_accuracy"]
    with pytest.raises(FileNotFoundError, match="classifier"):
        load_classifier(tmp_path / "missing")


def test_registered_as_torch_fidelity_extractor(tmp_path, monkeypatch):
    extractors = pytest.importorskip("rwbench.metrics.extractors")
    pytest.importorskip("torch_fidelity")
    smoke = config.load_embedded_config("config/embedded-smoke.yaml")
    training.train_model(smoke, "classifier", tmp_path, progress=False)
    info = extractors.resolve_extractor(extractors.DIGITS, tmp_path / "model.safetensors")
    ext = extractors.build_extractor(info, ["features", "logits"])
    images = config.training_images(smoke["dataset"], "test").images[:8]
    feats = extractors.extract_features(ext, images, batch_size=4)
    net = load_classifier(tmp_path)
    ref = net.embedding(images.float() / 255)   # the normalised features (live units, train-split scale)
    assert torch.allclose(feats["features"], ref, atol=1e-5)


@pytest.mark.slow
def test_default_classifier_reaches_97_percent(tmp_path):
    meta = training.train_model(config.load_embedded_config("config/embedded-default.yaml"), "classifier", tmp_path,
                                 progress=False)
    print(f"digits classifier test accuracy {meta['test_accuracy']:.4f}")
    assert meta["test_accuracy"] >= 0.97
