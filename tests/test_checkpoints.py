"""Checkpoint loaders and writers in the upstream layouts (DPS flat state dict, score_sde EMA checkpoint)."""

from __future__ import annotations

import pytest
import torch

from rwbench.models import checkpoints as ck
from rwbench.models.pretrained import write_random_checkpoint

try:
    from tests.golden import load_json, load_tensors
except ImportError:  # tests/ on sys.path (pytest's rootdir-less prepend mode)
    from golden import load_json, load_tensors


def _states_equal(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_adm_random_checkpoint_is_a_flat_state_dict_and_round_trips(tmp_path):
    path = write_random_checkpoint("ffhq-vp-adm", tmp_path / "ffhq_10m.pt", config="small", seed=3)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in raw.values()) and not any(k.startswith("module.") for k in raw)
    assert len(raw) == 252 and list(raw)[0] == "time_embed.0.weight"
    net = ck.load_adm(path, config="small")
    assert _states_equal(net.state_dict(), raw)
    assert _states_equal(ck.random_net("adm", "small", seed=3).state_dict(), raw)  # deterministic in the seed
    assert not torch.equal(ck.random_net("adm", "small", seed=4).state_dict()["out.2.weight"], raw["out.2.weight"])
    assert not net.training


def test_adm_golden_state_loads_and_reproduces_output(tmp_path):
    path = tmp_path / "golden_adm.pt"
    torch.save(load_tensors("adm_small_state.pt"), path)
    io = load_tensors("adm_small_io.pt")
    net = ck.load_adm(path, config="small", dtype=torch.float64)
    with torch.no_grad():
        out = net(io["x"], io["timesteps"])
    assert out.dtype == torch.float64 and (out - io["out_f64"]).abs().max().item() <= 1e-9


def test_adm_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt.*ffhq_10m.pt"):
        ck.load_adm(tmp_path / "missing.pt", config="small")
    path = write_random_checkpoint("ffhq-vp-adm", tmp_path / "a.pt")
    with pytest.raises(ValueError, match="missing keys"):
        ck.load_adm(path, config="full")  # small weights, full network
    with pytest.raises(ValueError, match="weights"):
        ck.load_adm(path, config="small", weights="raw")
    state = torch.load(path, weights_only=True)
    state["input_blocks.0.0.bias"] = torch.zeros(5)
    torch.save(state, tmp_path / "b.pt")
    with pytest.raises(ValueError, match="wrong shape"):
        ck.load_adm(tmp_path / "b.pt", config="small")
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="c.pt"):
        ck.load_adm(tmp_path / "c.pt", config="small")


def test_adm_loader_accepts_dataparallel_prefix(tmp_path):
    state = load_tensors("adm_small_state.pt")
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "p.pt")
    assert _states_equal(ck.load_adm(tmp_path / "p.pt", config="small").state_dict(), state)


def test_ncsnpp_random_checkpoint_has_score_sde_layout(tmp_path):
    path = write_random_checkpoint("ffhq-ve-ncsnpp", tmp_path / "checkpoint_48.pth", config="small", seed=1)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"optimizer", "model", "ema", "step"}
    assert all(k.startswith("module.") for k in raw["model"])
    assert list(raw["model"])[0] == "module.sigmas" and raw["model"]["module.sigmas"].dtype == torch.float64
    assert len(raw["model"]) == 474
    ema = raw["ema"]
    assert set(ema) == {"decay", "num_updates", "shadow_params"} and isinstance(ema["shadow_params"], list)
    order = load_json("ncsnpp_small_config.json")["ema_shadow_param_order"]
    assert len(ema["shadow_params"]) == len(order) == 472
    for name, tensor in zip(order, ema["shadow_params"]):
        assert tensor.shape == raw["model"]["module." + name].shape, name


def test_ncsnpp_ema_and_raw_weights(tmp_path):
    path = write_random_checkpoint("ffhq-ve-ncsnpp", tmp_path / "c.pth", config="small", seed=1)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    ema_net = ck.load_ncsnpp(path, config="small")
    raw_net = ck.load_ncsnpp(path, config="small", weights="raw")
    trainable = [p for p in ema_net.parameters() if p.requires_grad]
    assert all(torch.equal(p, s) for p, s in zip(trainable, raw["ema"]["shadow_params"]))
    for k, v in raw_net.state_dict().items():
        assert torch.equal(v, raw["model"]["module." + k]), k
    assert not torch.equal(ema_net.all_modules[3].weight, raw_net.all_modules[3].weight)
    assert torch.equal(ema_net.all_modules[0].W, raw_net.all_modules[0].W)  # not trained, not in the EMA list
    expected = ck.random_net("ncsnpp", "small", seed=1)  # the EMA weights are the seeded ones
    assert all(torch.equal(a, b) for a, b in zip(ema_net.parameters(), expected.parameters()))


def test_ncsnpp_golden_weights_through_ema_list_reproduce_output(tmp_path):
    """Put the golden weights only in the EMA list (in the manifest's order) and garbage in 'model'."""
    state = load_tensors("ncsnpp_small_state.pt")
    order = load_json("ncsnpp_small_config.json")["ema_shadow_param_order"]
    io = load_tensors("ncsnpp_small_io.pt")
    model = {"module." + k: (v if k in ("sigmas", "all_modules.0.W") else torch.zeros_like(v)) for k, v in state.items()}
    model["module.sigmas"] = torch.ones(1000, dtype=torch.float64)  # a resized buffer is dropped, not loaded
    ckpt = {"optimizer": {}, "model": model, "step": 7,
            "ema": {"decay": 0.999, "num_updates": 7, "shadow_params": [state[k] for k in order]}}
    torch.save(ckpt, tmp_path / "checkpoint_48.pth")
    net = ck.load_ncsnpp(tmp_path / "checkpoint_48.pth", config="small", dtype=torch.float64)
    assert net.sigmas.shape == (2000,)
    with torch.no_grad():
        out = net(io["x"], io["sigma"])
    assert (out - io["out_f64"]).abs().max().item() <= 1e-8


def test_ncsnpp_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth.*checkpoint_48.pth"):
        ck.load_ncsnpp(tmp_path / "nope.pth", config="small")
    path = write_random_checkpoint("ffhq-ve-ncsnpp", tmp_path / "c.pth")
    with pytest.raises(ValueError, match="weights"):
        ck.load_ncsnpp(path, config="small", weights="best")
    raw = torch.load(path, weights_only=True)
    raw["ema"]["shadow_params"] = raw["ema"]["shadow_params"][:-1]
    torch.save(raw, tmp_path / "short.pth")
    with pytest.raises(ValueError, match="shadow_params has 471"):
        ck.load_ncsnpp(tmp_path / "short.pth", config="small")
    del raw["ema"]
    torch.save(raw, tmp_path / "noema.pth")
    with pytest.raises(ValueError, match="weights='raw'"):
        ck.load_ncsnpp(tmp_path / "noema.pth", config="small")
    ck.load_ncsnpp(tmp_path / "noema.pth", config="small", weights="raw")
    torch.save({"a": torch.zeros(1)}, tmp_path / "flat.pth")
    with pytest.raises(ValueError, match="'model'"):
        ck.load_ncsnpp(tmp_path / "flat.pth", config="small")


def test_checkpoints_never_execute_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    import pickle

    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"x": Evil()}, fh, protocol=2)
    with pytest.raises(ValueError, match="weights_only"):
        ck.load_adm(tmp_path / "evil.pt", config="small")
