import json

import pytest
import torch
from safetensors.torch import load_file

from rwbench.models.embedded import native_function
from rwbench.models.preconditioning import vp_sigma
from rwbench import training
from rwbench.training import config, loop
from rwbench.training.state import lr_at
from rwbench.data import to_model_range

SMOKE = "config/embedded-smoke.yaml"


@pytest.fixture(scope="module")
def smoke():
    return config.load_embedded_config(SMOKE)


@pytest.mark.parametrize("kind", ["vp", "ve", "iadb"])
def test_smoke_training_writes_checkpoint_and_full_config(kind, smoke, tmp_path):
    meta = training.train_model(smoke, kind, tmp_path, progress=False)
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
    meta = training.train_model(smoke, "ve", tmp_path, progress=False, stop_after=1)
    x = to_model_range(config.training_images(meta["dataset"]).images, "ve")
    flat = x.reshape(len(x), -1).double()
    assert meta["objective"]["sigma_max"] == pytest.approx(float(torch.cdist(flat, flat).max()), rel=1e-9)
    assert meta["objective"]["sigma_min"] == smoke["models"]["ve"]["objective"]["sigma_min"]


@pytest.mark.parametrize("kind", ["vp", "classifier"])
def test_resume_gives_identical_weights(kind, smoke, tmp_path):
    straight, split = tmp_path / "a", tmp_path / "b"
    training.train_model(smoke, kind, straight, progress=False)
    half = training.train_model(smoke, kind, split, progress=False, stop_after=7)
    assert half["step"] == 7 and int(load_file(str(split / "state.safetensors"))["step"]) == 7
    training.train_model(smoke, kind, split, progress=False, resume=True)
    a, b = load_file(str(straight / "state.safetensors")), load_file(str(split / "state.safetensors"))
    assert a.keys() == b.keys() and int(b["step"]) == smoke["train" if kind != "classifier" else "classifier"]["steps"]
    for k in a:
        assert torch.equal(a[k], b[k]), k



@pytest.mark.parametrize("kind", ["vp", "classifier"])
def test_training_twice_gives_bitwise_identical_files(kind, smoke, tmp_path):
    """Same seed and threads: byte-equal weights and state, whatever the global RNG held before; a new seed differs."""
    import hashlib

    section = "classifier" if kind == "classifier" else "train"
    short = dict(smoke, **{section: dict(smoke[section], steps=4)})
    runs = {"a": short, "b": short, "seed1": dict(short, **{section: dict(short[section], seed=1)})}
    digests = {}
    for name, cfg in runs.items():
        torch.manual_seed(len(name))
        torch.rand(5)  # a different global RNG state before each run
        meta = training.train_model(cfg, kind, tmp_path / name, progress=False)
        assert meta["torch_threads"] == smoke[section]["threads"] == 1
        digests[name] = [hashlib.sha256((tmp_path / name / f).read_bytes()).hexdigest()
                         for f in ("model.safetensors", "state.safetensors")]
    assert digests["a"] == digests["b"]
    assert digests["seed1"][0] != digests["a"][0]


def test_resuming_a_finished_classifier_keeps_its_weights(smoke, tmp_path):
    short = dict(smoke, classifier=dict(smoke["classifier"], steps=2))
    training.train_model(short, "classifier", tmp_path, progress=False)
    before = (tmp_path / "model.safetensors").read_bytes()
    meta = training.train_model(short, "classifier", tmp_path, progress=False, resume=True)
    assert meta["step"] == 2 and meta["loss_ema"] is None and (tmp_path / "model.safetensors").read_bytes() == before

def test_resume_refuses_a_different_config(smoke, tmp_path):
    training.train_model(smoke, "iadb", tmp_path, progress=False, stop_after=2)
    other = dict(smoke, net=dict(smoke["net"], base_channels=4))
    with pytest.raises(ValueError, match="net"):
        training.train_model(other, "iadb", tmp_path, progress=False, resume=True)
    with pytest.raises(FileNotFoundError, match="state.safetensors"):
        training.train_model(smoke, "iadb", tmp_path / "empty", progress=False, resume=True)


def _net(kind, smoke, parameterization=None):
    cfg = config.resolve_model_config(smoke, kind)
    if kind == "ve":
        cfg["objective"]["sigma_max"] = 12.0
    if parameterization is not None:
        cfg["objective"]["parameterization"] = parameterization
    torch.manual_seed(0)
    net = loop.build_net(cfg)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return net, cfg["objective"]


@pytest.mark.parametrize("parameterization", ["eps", "edm"])
def test_ve_loss_is_lambda_weighted_score_matching(smoke, parameterization):
    net, obj = _net("ve", smoke, parameterization)
    x0 = torch.rand(8, 1, 16, 16)
    loss = loop.diffusion_loss("ve", net, x0, obj, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    z = torch.randn(x0.shape, generator=g)
    smin = obj["sigma_min"]
    sigma = smin * (12.0 / smin) ** torch.rand(8, generator=g)
    score = native_function("ve", net, obj)(x0 + sigma.view(-1, 1, 1, 1) * z, sigma)
    ref = (sigma.view(-1, 1, 1, 1) * score + z).square().mean()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-4)


def _edm_denoiser(net, x, sigma, cond, sigma_data=0.5):
    """Karras et al. 2022, Table 1: D = c_skip x + c_out F(c_in x, c_noise) in VE coordinates."""
    s = sigma.view(-1, 1, 1, 1)
    norm = s * s + sigma_data ** 2
    return sigma_data ** 2 / norm * x + s * sigma_data / norm.sqrt() * net(x / norm.sqrt(), cond)


def test_edm_parameterizations_are_preconditioned_denoisers(smoke):
    x = torch.rand(3, 1, 16, 16, dtype=torch.float64) * 3
    net, obj = _net("ve", smoke, "edm")
    net = net.double()
    sigma = torch.tensor([0.05, 0.7, 9.0], dtype=torch.float64)
    score = native_function("ve", net, obj)(x, sigma)
    d = x + sigma.view(-1, 1, 1, 1) ** 2 * score
    assert torch.allclose(d, _edm_denoiser(net, x, sigma, torch.log(sigma)), atol=1e-10)

    net, obj = _net("vp", smoke, "edm")
    net = net.double()
    t = torch.tensor([0.0, 250.5, 999.0], dtype=torch.float64)  # fractional t: sigma(t) interpolates like the adapter
    sigma = vp_sigma(t, obj)
    from rwbench.core import schedules

    abar = schedules.alphas_cumprod(schedules.linear_betas())
    assert sigma[0].item() == pytest.approx(((1 - abar[0]) / abar[0]).sqrt().item())
    assert sigma[1].item() == pytest.approx(0.5 * sum(((1 - abar[i]) / abar[i]).sqrt().item() for i in (250, 251)))
    s = sigma.view(-1, 1, 1, 1)
    eps = native_function("vp", net, obj)(x / (1 + s * s).sqrt(), t)  # x_t = sqrt(abar) x
    assert torch.allclose(x - s * eps, _edm_denoiser(net, x, sigma, t), atol=1e-10)
    with pytest.raises(ValueError, match="parameterization"):
        native_function("vp", net, dict(obj, parameterization="v"))(x, t)


@pytest.mark.parametrize("parameterization", ["eps", "edm"])
def test_vp_and_iadb_losses_match_their_definitions(smoke, parameterization):
    from rwbench.core import schedules

    net, obj = _net("vp", smoke, parameterization)
    x0 = torch.rand(8, 1, 16, 16) * 2 - 1
    loss = loop.diffusion_loss("vp", net, x0, obj, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    z = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, 1000, (8,), generator=g)
    ab = schedules.alphas_cumprod(schedules.linear_betas()).float()[t].view(-1, 1, 1, 1)
    eps = native_function("vp", net, obj)(ab.sqrt() * x0 + (1 - ab).sqrt() * z, t.double())
    assert loss.item() == pytest.approx((eps - z).square().mean().item(), rel=1e-4)

    net, obj = _net("iadb", smoke)
    loss = loop.diffusion_loss("iadb", net, x0, obj, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    z = torch.randn(x0.shape, generator=g)
    a = torch.rand(8, generator=g)
    xa = (1 - a.view(-1, 1, 1, 1)) * z + a.view(-1, 1, 1, 1) * x0
    d = native_function("iadb", net, obj)(xa, a)
    assert loss.item() == pytest.approx((d - (x0 - z)).square().mean().item(), rel=1e-4)


def test_lr_schedule_and_bad_kind(smoke):
    tc = config.resolve_model_config(smoke, "vp")["train"]
    assert lr_at(0, tc) == pytest.approx(tc["lr"] / tc["warmup"])
    assert lr_at(tc["warmup"], tc) == pytest.approx(tc["lr"])
    assert lr_at(tc["steps"], tc) == pytest.approx(tc["lr"] * tc["min_lr_ratio"])
    with pytest.raises(ValueError, match="--model"):
        config.resolve_model_config(smoke, "edm")


def test_cli_reads_the_embedded_section(tmp_path, capsys):
    import yaml

    from rwbench.cli import main

    cfg = tmp_path / "default.yaml"
    cfg.write_text(yaml.safe_dump({"other": {"x": 1}, "embedded": config.load_embedded_config(SMOKE)}))
    assert main(["train", "--config", str(cfg), "--model", "iadb", "--out", str(tmp_path / "m"), "--no-progress"]) == 0
    assert "model=iadb steps=20" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        config.load_embedded_config(tmp_path / "missing.yaml")


@pytest.mark.slow
def test_train_all_in_parallel_matches_one_by_one(smoke, tmp_path):
    """Two spawned workers (a few seconds of interpreter start-up each) give the weights of one-by-one training."""
    metas = training.train_all(smoke, tmp_path / "par", jobs=2, kinds=("iadb", "classifier"))
    assert set(metas) == {"iadb", "classifier"}
    for kind in ("iadb", "classifier"):
        training.train_model(smoke, kind, tmp_path / "seq" / kind, progress=False)
        a = load_file(str(tmp_path / "par" / kind / "model.safetensors"))
        b = load_file(str(tmp_path / "seq" / kind / "model.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), kind


def test_train_all_runs_longest_first_and_checks_jobs(smoke, tmp_path, capsys):
    cfg = dict(smoke, models=dict(smoke["models"], vp=dict(smoke["models"]["vp"], train={"steps": 3})))
    metas = training.train_all(cfg, tmp_path, jobs=1, kinds=("vp", "iadb"))
    assert [ln.split()[0] for ln in capsys.readouterr().out.splitlines()] == ["model=iadb", "model=vp"]
    assert metas["vp"]["step"] == 3 and (tmp_path / "iadb" / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="jobs"):
        training.train_all(smoke, tmp_path / "x", jobs=0)


@pytest.mark.parametrize("kind", ["iadb", "classifier"])
def test_partial_training_never_writes_the_final_model(kind, smoke, tmp_path):
    """Intermediate checkpoints go to state.safetensors + checkpoint.json; model.safetensors only at the end."""
    steps = smoke["train" if kind != "classifier" else "classifier"]["steps"]
    half = dict(smoke, train=dict(smoke["train"], checkpoint_every=2))
    (tmp_path / "model.safetensors").write_bytes(b"a previous run's model")   # a re-training removes it first
    training.train_model(half, kind, tmp_path, progress=False, stop_after=3)
    assert not (tmp_path / "model.safetensors").exists() and not (tmp_path / "config.json").exists()
    assert json.loads((tmp_path / "checkpoint.json").read_text())["step"] == 3
    from rwbench.commands.info import embedded_status

    assert embedded_status(tmp_path, kind).startswith("partial (step 3 of")
    training.train_model(half, kind, tmp_path, progress=False, resume=True)
    assert json.loads((tmp_path / "config.json").read_text())["step"] == steps
    assert (tmp_path / "model.safetensors").is_file() and not (tmp_path / "checkpoint.json").exists()
    assert embedded_status(tmp_path, kind) == "present"
