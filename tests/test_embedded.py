import math
import re

import pytest
import torch

from rwbench.models import embedded
from rwbench import training
from rwbench.training import config as train_config
from rwbench.tools import prepare
from rwbench.models.oracle import oracle_file
from rwbench.models.denoisers import GaussianMixtureDenoiser, IADBDenoiser, VEScoreDenoiser, VPEpsDenoiser
from rwbench.models.registry import get_model, list_models

SMOKE = "config/embedded-smoke.yaml"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("embedded")
    cfg = train_config.load_embedded_config(SMOKE)
    for kind in ("vp", "ve", "iadb", "classifier"):
        training.train_model(cfg, kind, root / kind, progress=False)
    prepare.prepare(cfg, root / "oracle", progress=False)
    return root


def test_registry_entries():
    assert {"digits-vp", "digits-ve", "digits-iadb", "digits-oracle", "faces-oracle"} <= set(list_models())
    expect = {"digits-vp": ("vp", (-1, 1)), "digits-ve": ("ve", (0, 1)), "digits-iadb": ("iadb", (-1, 1)),
              "digits-oracle": ("oracle", (0, 1)), "faces-oracle": ("oracle", (0, 1))}
    for name, (family, rng) in expect.items():
        entry = get_model(name)
        assert entry.family == family and entry.data_range == rng


def test_missing_checkpoint_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="rwbench train"):
        get_model("digits-vp").loader(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="rwbench prepare"):
        get_model("digits-oracle").loader(tmp_path)


def test_learned_models_load_as_core_adapters(root):
    vp = get_model("digits-vp").loader(root / "vp")
    ve = get_model("digits-ve").loader(root / "ve", dtype=torch.float64)
    ia = get_model("digits-iadb").loader(checkpoint_dir=root / "iadb")
    assert isinstance(vp, VPEpsDenoiser) and isinstance(ve, VEScoreDenoiser) and isinstance(ia, IADBDenoiser)
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    sigma = torch.tensor(0.7, dtype=torch.float64)
    for den in (vp, ve, ia):
        out = den(x, sigma)
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    # VP: D = x - sigma eps(sqrt(abar) x, t(sigma)) with the trained eps net
    t = torch.full((2,), vp.sigma_to_t(0.7), dtype=torch.float64)
    eps = vp.eps_fn(x / math.sqrt(1 + 0.49), t)
    assert torch.allclose(vp(x, sigma), x - 0.7 * eps, atol=1e-6)
    # VE: D = x + sigma^2 score
    assert torch.allclose(ve(x, sigma), x + 0.49 * ve.score_fn(x, torch.full((2,), 0.7, dtype=torch.float64)))
    # IADB: a = 1/(1 + sigma), D = x_a + (1 - a) blend(x_a, a)
    a = 1 / 1.7
    blend = ia.blend_fn(a * x, torch.full((2,), a, dtype=torch.float64))
    assert torch.allclose(ia(x, sigma), a * x + (1 - a) * blend, atol=1e-6)
    assert ve.sigma_max == pytest.approx(ve.config["objective"]["sigma_max"])
    smoke_ve = train_config.load_embedded_config(SMOKE)["models"]["ve"]["objective"]
    assert ve.sigma_min == ve.config["objective"]["sigma_min"] == smoke_ve["sigma_min"]
    assert vp.betas.numel() == 1000 and vp.config["kind"] == "vp" and ia.net is not None


def test_native_samplers_run(root):
    from rwbench.tools.bench.quality import sample_native

    vp = embedded.load_digits_vp(root / "vp")
    ve = embedded.load_digits_ve(root / "ve")
    ia = embedded.load_digits_iadb(root / "iadb")
    full = sample_native("vp", vp, 2, 1000, seed=1, batch_size=2)  # DDPM ancestral over all 1000 training steps
    assert full.dtype == torch.uint8 and full.shape == (2, 1, 16, 16)
    from rwbench.core import schedules

    vp.betas = schedules.linear_betas(40, 1e-3, 0.2)  # a short chain is enough for the batch-size check below
    for kind, den, steps in (("vp", vp, 40), ("ve", ve, 20), ("iadb", ia, 8)):
        a = sample_native(kind, den, 3, steps, seed=1, batch_size=3)
        b = sample_native(kind, den, 3, steps, seed=1, batch_size=2)  # per-image noise: batch size does not matter
        assert a.dtype == torch.uint8 and a.shape == (3, 1, 16, 16)
        assert torch.equal(a, b)


def test_oracles_load_exactly(root):
    d = get_model("digits-oracle").loader(root / "oracle")
    f = get_model("faces-oracle").loader(checkpoint_dir=root / "oracle")
    assert isinstance(d, GaussianMixtureDenoiser) and isinstance(f, GaussianMixtureDenoiser)
    assert d.sample_shape == (1, 16, 16) == f.sample_shape
    ref = GaussianMixtureDenoiser.load(oracle_file(root / "oracle", "digits"))
    assert torch.equal(ref.means, d.means)


def test_default_root_from_environment(root, monkeypatch):
    monkeypatch.setenv(embedded.EMBEDDED_ENV, str(root))
    assert isinstance(embedded.load_digits_iadb(), IADBDenoiser)
    assert isinstance(embedded.load_faces_oracle(), GaussianMixtureDenoiser)


def test_quality_bench_prints_one_line_per_model(root, capsys):
    from rwbench.tools.bench import quality

    assert quality.main(["--config", SMOKE, "--root", str(root), "--n", "12", "--models", "ve,iadb", "--oracle"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("model=") and "confident=" in ln]
    pattern = (r"model=(\S+) confident=([\d.]+) class_entropy=([\d.]+) fid=(-?[\d.]+) fid_floor=(-?[\d.]+) "
               r"nn_ratio=([\d.]+)")
    names = [re.match(pattern, ln).group(1) for ln in lines]
    assert names == ["digits-oracle", "digits-ve", "digits-iadb"]


def test_quality_scores_real_images_as_real(root):
    from rwbench.tools.bench.quality import score_samples
    from rwbench.nets.classifier import load_classifier

    ds = train_config.resolve_model_config(train_config.load_embedded_config(SMOKE), "classifier")["dataset"]
    tr, te = train_config.training_images(ds, "train").images, train_config.training_images(ds, "test").images
    r = score_samples(tr[:100], load_classifier(root / "classifier"), tr, te)
    assert r["nn_ratio"] == 0.0  # training images are their own nearest neighbours: memorisation shows as 0
    r = score_samples(te[:100], load_classifier(root / "classifier"), tr, te)
    assert 0.5 < r["nn_ratio"] < 1.5


@pytest.mark.slow
def test_default_models_pass_the_quality_floor(tmp_path, capsys):
    """Trains the default configuration (minutes) and checks the issue's floor for each model."""
    from rwbench.tools.bench import quality

    assert quality.main(["--config", "config/embedded-default.yaml", "--root", str(tmp_path), "--n", "200"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("model=") and "confident=" in ln]
    assert len(lines) == 3
    for ln in lines:
        fields = dict(kv.split("=") for kv in ln.split())
        assert float(fields["confident"]) >= 0.8, ln
        assert float(fields["class_entropy"]) >= 0.9 * math.log(10), ln
