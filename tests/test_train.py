import json

import pytest
import torch
from safetensors.torch import load_file

from rwbench import train
from rwbench.data import to_model_range

SMOKE = "config/embedded-smoke.yaml"


@pytest.fixture(scope="module")
def smoke():
    return train.load_embedded_config(SMOKE)


@pytest.mark.parametrize("kind", ["vp", "ve", "iadb"])
def test_smoke_training_writes_checkpoint_and_full_config(kind, smoke, tmp_path):
    meta = train.train_model(smoke, kind, tmp_path, progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["step"] == meta["step"] == smoke["train"]["steps"]
    assert saved["kind"] == kind and saved["train"]["batch_size"] == 16 and saved["net"]["base_channels"] == 8
    assert saved["objective"] == meta["objective"] and saved["net_config"]["cond_scale"] > 0
    assert torch.isfinite(torch.tensor(saved["loss_ema"]))
    weights = load_file(str(tmp_path / "model.safetensors"))
    state = load_file(str(tmp_path / "state.safetensors"))
    assert int(state["step"]) == saved["step"]
    # the saved model is the EMA, which differs from the raw weights
    assert any(not torch.equal(weights[k], state[f"net.{k}"]) for k in weights)


def test_ve_sigma_max_is_max_pairwise_train_distance(smoke, tmp_path):
    meta = train.train_model(smoke, "ve", tmp_path, progress=False, stop_after=1)
    x = to_model_range(train.training_images(meta["dataset"]).images, "ve")
    flat = x.reshape(len(x), -1).double()
    assert meta["objective"]["sigma_max"] == pytest.approx(float(torch.cdist(flat, flat).max()), rel=1e-9)
    assert meta["objective"]["sigma_min"] == 0.01


@pytest.mark.parametrize("kind", ["vp", "classifier"])
def test_resume_gives_identical_weights(kind, smoke, tmp_path):
    straight, split = tmp_path / "a", tmp_path / "b"
    train.train_model(smoke, kind, straight, progress=False)
    half = train.train_model(smoke, kind, split, progress=False, stop_after=7)
    assert half["step"] == 7 and int(load_file(str(split / "state.safetensors"))["step"]) == 7
    train.train_model(smoke, kind, split, progress=False, resume=True)
    a, b = load_file(str(straight / "state.safetensors")), load_file(str(split / "state.safetensors"))
    assert a.keys() == b.keys() and int(b["step"]) == smoke["train" if kind != "classifier" else "classifier"]["steps"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_a_different_config(smoke, tmp_path):
    train.train_model(smoke, "iadb", tmp_path, progress=False, stop_after=2)
    other = dict(smoke, net=dict(smoke["net"], base_channels=4))
    with pytest.raises(ValueError, match="net"):
        train.train_model(other, "iadb", tmp_path, progress=False, resume=True)
    with pytest.raises(FileNotFoundError, match="state.safetensors"):
        train.train_model(smoke, "iadb", tmp_path / "empty", progress=False, resume=True)


def _net(kind, smoke):
    cfg = train.resolve_model_config(smoke, kind)
    if kind == "ve":
        cfg["objective"]["sigma_max"] = 12.0
    torch.manual_seed(0)
    net = train.build_net(cfg)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return net, cfg["objective"]


def test_ve_loss_is_lambda_weighted_score_matching(smoke):
    net, obj = _net("ve", smoke)
    x0 = torch.rand(8, 1, 16, 16)
    loss = train.diffusion_loss("ve", net, x0, obj, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    z = torch.randn(x0.shape, generator=g)
    sigma = 0.01 * (12.0 / 0.01) ** torch.rand(8, generator=g)
    score = train.native_function("ve", net, obj)(x0 + sigma.view(-1, 1, 1, 1) * z, sigma)
    ref = (sigma.view(-1, 1, 1, 1) * score + z).square().mean()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-4)


def test_vp_and_iadb_losses_match_their_definitions(smoke):
    from rwbench import schedules

    net, obj = _net("vp", smoke)
    x0 = torch.rand(8, 1, 16, 16) * 2 - 1
    loss = train.diffusion_loss("vp", net, x0, obj, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    z = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, 1000, (8,), generator=g)
    ab = schedules.alphas_cumprod(schedules.linear_betas()).float()[t].view(-1, 1, 1, 1)
    eps = train.native_function("vp", net, obj)(ab.sqrt() * x0 + (1 - ab).sqrt() * z, t.double())
    assert loss.item() == pytest.approx((eps - z).square().mean().item(), rel=1e-4)

    net, obj = _net("iadb", smoke)
    loss = train.diffusion_loss("iadb", net, x0, obj, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    z = torch.randn(x0.shape, generator=g)
    a = torch.rand(8, generator=g)
    xa = (1 - a.view(-1, 1, 1, 1)) * z + a.view(-1, 1, 1, 1) * x0
    d = train.native_function("iadb", net, obj)(xa, a)
    assert loss.item() == pytest.approx((d - (x0 - z)).square().mean().item(), rel=1e-4)


def test_lr_schedule_and_bad_kind(smoke):
    tc = train.resolve_model_config(smoke, "vp")["train"]
    assert train.lr_at(0, tc) == pytest.approx(tc["lr"] / tc["warmup"])
    assert train.lr_at(tc["warmup"], tc) == pytest.approx(tc["lr"])
    assert train.lr_at(tc["steps"], tc) == pytest.approx(tc["lr"] * tc["min_lr_ratio"])
    with pytest.raises(ValueError, match="--model"):
        train.resolve_model_config(smoke, "edm")


def test_cli_reads_the_embedded_section(tmp_path, capsys):
    import yaml

    from rwbench.cli import main

    cfg = tmp_path / "default.yaml"
    cfg.write_text(yaml.safe_dump({"other": {"x": 1}, "embedded": train.load_embedded_config(SMOKE)}))
    assert main(["train", "--config", str(cfg), "--model", "iadb", "--out", str(tmp_path / "m"), "--no-progress"]) == 0
    assert "model=iadb steps=20" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        train.load_embedded_config(tmp_path / "missing.yaml")
