import json

import pytest
import torch

from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.models.oracle import fit_gmm, oracle_file, oracle_samples_uint8, reference_file


def test_fit_recovers_two_separated_clusters():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 1, 2, 2, generator=g, dtype=torch.float64) * 0.1
    b = torch.randn(100, 1, 2, 2, generator=g, dtype=torch.float64) * 0.1 + 3.0
    oracle = fit_gmm(torch.cat([a, b]), 2, 1e-6, seed=0)
    assert isinstance(oracle, GaussianMixtureDenoiser) and oracle.sample_shape == (1, 2, 2)
    order = oracle.means[:, 0].argsort()
    assert torch.allclose(oracle.weights[order], torch.tensor([0.75, 0.25], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(oracle.means[order[1]], torch.full((4,), 3.0, dtype=torch.float64), atol=0.05)
    # a noisy point near cluster b denoises to near its mean; at huge sigma to the mixture mean.
    x = torch.full((1, 1, 2, 2), 3.3, dtype=torch.float64)
    assert torch.allclose(oracle(x, torch.tensor(0.3)), torch.full_like(x, 3.0), atol=0.1)
    assert torch.allclose(oracle(x, torch.tensor(1e4)).flatten(), oracle.mean, atol=1e-3)


def test_fit_is_seeded_and_validates():
    x = torch.rand(60, 1, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a, b = fit_gmm(x, 3, 1e-3, seed=5), fit_gmm(x, 3, 1e-3, seed=5)
    assert torch.equal(a.means, b.means)
    with pytest.raises(ValueError, match="n_components"):
        fit_gmm(x, 0, 1e-3)
    with pytest.raises(ValueError, match="reg_covar"):
        fit_gmm(x, 2, 0.0)
    with pytest.raises(ValueError, match="images"):
        fit_gmm(x.reshape(60, 9), 2, 1e-3)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from rwbench.cli import main

    out = tmp_path_factory.mktemp("prepare")
    assert main(["prepare", "--config", "config/embedded-smoke.yaml", "--out", str(out), "--no-progress"]) == 0
    return out


def test_prepare_writes_oracles_and_uint8_references(prepared):
    from safetensors.torch import load_file

    for name, n in (("digits", 64), ("faces", 16)):
        oracle = GaussianMixtureDenoiser.load(oracle_file(prepared, name))
        assert oracle.sample_shape == (1, 16, 16) and oracle.weights.numel() == 2
        ref = load_file(str(reference_file(prepared, name)))["images"]
        assert ref.dtype == torch.uint8 and ref.shape == (n, 1, 16, 16)
        assert torch.equal(ref, oracle_samples_uint8(oracle, n, seed=0))
    data = load_file(str(prepared / "digits-data.safetensors"))
    assert data["train_images"].shape[0] + data["test_images"].shape[0] == 1797
    saved = json.loads((prepared / "prepare.json").read_text())
    assert saved["oracles"]["digits"]["settings"]["n_components"] == 2 == saved["oracles"]["faces"]["n_components"]
    assert saved["oracles"]["faces"]["n_train"] == 100


def test_prepared_oracle_matches_a_direct_fit(prepared):
    from rwbench.data import load_dataset, to_model_range

    faces = to_model_range(load_dataset("faces", "all", 16).images, "oracle", dtype=torch.float64)
    direct = fit_gmm(faces, 2, 1e-2, seed=0, max_iter=20)
    saved = GaussianMixtureDenoiser.load(oracle_file(prepared, "faces"))
    assert torch.allclose(direct.means, saved.means) and torch.allclose(direct.covs, saved.covs)
