"""Registry entries for the FFHQ models: default paths, clear errors, and a smoke run on random small checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from rwbench.models import pretrained
from rwbench.models.pretrained import default_checkpoint, write_random_checkpoint
from rwbench.models.registry import get_model, list_models

F64 = torch.float64


def test_entries_are_registered_with_their_conventions():
    assert {"ffhq-vp-adm", "ffhq-ve-ncsnpp"} <= set(list_models())
    vp, ve = get_model("ffhq-vp-adm"), get_model("ffhq-ve-ncsnpp")
    assert (vp.family, vp.data_range) == ("vp", (-1, 1))
    assert (ve.family, ve.data_range) == ("ve", (0, 1))


def test_default_paths_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RWBENCH_CHECKPOINTS", str(tmp_path))
    assert default_checkpoint("ffhq-vp-adm") == tmp_path / "ffhq_10m.pt"
    assert default_checkpoint("ffhq-ve-ncsnpp") == tmp_path / "ffhq_256_ncsnpp_continuous" / "checkpoint_48.pth"
    monkeypatch.delenv("RWBENCH_CHECKPOINTS")
    assert str(default_checkpoint("ffhq-vp-adm")) == "checkpoints/ffhq_10m.pt"


@pytest.mark.parametrize("name, needle", [("ffhq-vp-adm", "DPS"), ("ffhq-ve-ncsnpp", "score_sde_pytorch")])
def test_missing_checkpoint_is_one_clear_line(monkeypatch, tmp_path, name, needle):
    monkeypatch.setenv("RWBENCH_CHECKPOINTS", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        get_model(name).loader()
    message = str(err.value)
    assert "\n" not in message
    assert str(default_checkpoint(name)) in message and needle in message and "Google" in message


@pytest.fixture(scope="module")
def random_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return {name: write_random_checkpoint(name, folder / f"{name}.pt", config="small", seed=0)
            for name in ("ffhq-vp-adm", "ffhq-ve-ncsnpp")}


def test_vp_adm_denoiser_smoke(random_checkpoints):
    den = get_model("ffhq-vp-adm").loader(random_checkpoints["ffhq-vp-adm"], config="small")
    net = den.net
    assert net.dtype == torch.float32 and not net.training
    assert not any(p.requires_grad for p in net.parameters())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 64, 64, generator=g)
    sigma = torch.tensor(1.0, dtype=F64)
    with torch.no_grad():
        out = den(x, sigma)
        t = den.sigma_to_t(sigma)
        eps = net(x / math.sqrt(2.0), torch.full((2,), t, dtype=F64))[:, :3]
    assert out.shape == x.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert 250 < t < 265  # sigma 1 is DDPM step ~258 (paper.md section 6)
    assert torch.allclose(out, x - eps, atol=1e-5)  # D = x - sigma eps(sqrt(abar) x, t(sigma)), abar = 1/2


def test_ve_ncsnpp_denoiser_smoke(random_checkpoints):
    den = get_model("ffhq-ve-ncsnpp").loader(random_checkpoints["ffhq-ve-ncsnpp"], config="small")
    net = den.net
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    sigma = torch.tensor(0.5, dtype=F64)
    with torch.no_grad():
        out = den(x, sigma)
        score = net(x, torch.full((2,), 0.5, dtype=F64))
    assert out.shape == x.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.allclose(out, x + 0.25 * score, atol=1e-5)  # D = x + sigma^2 score


def test_float64_loading(random_checkpoints):
    den = get_model("ffhq-ve-ncsnpp").loader(random_checkpoints["ffhq-ve-ncsnpp"], config="small", dtype=F64)
    assert den.net.dtype == F64 and den.net.sigmas.dtype == F64
    x = torch.rand(1, 3, 64, 64, dtype=F64)
    with torch.no_grad():
        assert den(x, torch.tensor(2.0, dtype=F64)).dtype == F64


def test_write_random_checkpoint_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="ffhq-vp-adm"):
        write_random_checkpoint("cifar-ve", tmp_path / "x.pt")
    from rwbench.plan.inputs import CHECKPOINT_FILES

    assert CHECKPOINT_FILES.keys() == pretrained.SOURCES.keys()
