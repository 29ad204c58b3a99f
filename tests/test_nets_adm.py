"""ADM UNet: state-dict layout of the DPS FFHQ-256 model and the golden reduced model's outputs."""

from __future__ import annotations

import math

import pytest
import torch

from rwbench.nets.adm import AttentionBlock, ResBlock, build_adm

try:
    from tests.golden import key_shape_dtype_sha256, load_json, load_tensors, module_stats
except ImportError:  # tests/ on sys.path (pytest's rootdir-less prepend mode)
    from golden import key_shape_dtype_sha256, load_json, load_tensors, module_stats


@pytest.fixture(scope="module")
def small_net():
    net = build_adm("small").eval()
    net.load_state_dict(load_tensors("adm_small_state.pt"), strict=True)
    return net


@pytest.fixture(scope="module")
def io():
    return load_tensors("adm_small_io.pt")


def _check_module_map(net, module_map):
    modules = dict(net.named_modules())
    for entry in module_map:
        m = modules[entry["module"]]
        if entry["class"] == "GroupNorm32":
            assert (m.num_groups, m.num_channels, m.eps, m.affine) == (
                entry["num_groups"], entry["num_channels"], entry["eps"], entry["affine"]), entry["module"]
        elif entry["class"] == "ResBlock":
            assert isinstance(m, ResBlock), entry["module"]
            updown = entry["updown"].split(" ")[0]
            assert m.updown == updown, entry["module"]
            conv_skip = isinstance(m.skip_connection, torch.nn.Conv2d)
            assert conv_skip == (entry["skip_connection"] == "conv1x1"), entry["module"]
            assert m.in_layers[2].in_channels == entry["channels"]
            assert m.in_layers[2].out_channels == entry["out_channels"]
            assert m.emb_layers[1].in_features == entry["emb_channels"]
        elif entry["class"] == "AttentionBlock":
            assert isinstance(m, AttentionBlock), entry["module"]
            assert m.num_heads == entry["num_heads"], entry["module"]
            assert m.qkv.in_channels == entry["channels"]


def test_full_ffhq256_state_dict_matches_manifest():
    manifest = load_json("adm_ffhq256_manifest.json")
    with torch.device("meta"):
        net = build_adm("full")
    state = net.state_dict()
    assert key_shape_dtype_sha256(state) == manifest["state_dict_sha256_of_key_shape_dtype_lines"]
    assert list(state) == [e["key"] for e in manifest["state_dict"]]
    counts = manifest["counts"]
    assert len(state) == counts["num_state_dict_keys"] == 362
    assert sum(p.numel() for p in net.parameters()) == counts["total_parameters"] == 93_563_910
    assert len(list(net.buffers())) == counts["num_buffer_tensors"] == 0
    _check_module_map(net, manifest["module_map"])


def test_full_ffhq256_block_shapes_match_manifest():
    manifest = load_json("adm_ffhq256_manifest.json")
    with torch.device("meta"):
        net = build_adm("full")
        shapes = {}
        hooks = [net.get_submodule(e["module"]).register_forward_hook(
            lambda m, i, o, name=e["module"]: shapes.__setitem__(name, list(o.shape)))
            for e in manifest["block_io_shapes_batch1"]]
        out = net(torch.empty(1, 3, 256, 256), torch.tensor([500.0]))
    for h in hooks:
        h.remove()
    assert list(out.shape) == [1, 6, 256, 256]
    for e in manifest["block_io_shapes_batch1"]:
        assert shapes[e["module"]] == e["output_shape"], e["module"]


def test_small_state_dict_matches_golden_listing(small_net):
    cfg = load_json("adm_small_config.json")
    assert key_shape_dtype_sha256(small_net.state_dict()) == cfg["state_dict_sha256_of_key_shape_dtype_lines"]
    assert sum(p.numel() for p in small_net.parameters()) == cfg["counts"]["total_parameters"] == 1_105_158
    _check_module_map(small_net, cfg["module_map"])


def test_float32_matches_upstream(small_net, io):
    net = small_net.float()
    with torch.no_grad():
        out = net(io["x"], io["timesteps"])
        sin = net.timestep_features(io["timesteps"])
        mlp = net.embed_time(io["timesteps"])
    assert out.dtype == torch.float32 and out.shape == (2, 6, 64, 64)
    assert (out - io["out_f32"]).abs().max().item() <= 5e-5
    assert (sin - io["temb_sin_f32"]).abs().max().item() <= 1e-6
    assert (mlp - io["temb_mlp_f32"]).abs().max().item() <= 1e-5


def test_float64_matches_upstream_with_block_statistics(small_net, io):
    net = build_adm("small").eval()
    net.load_state_dict(small_net.state_dict())
    net = net.double()
    ref = load_json("adm_small_config.json")["block_stats_f64_call_order"]
    stats = {}
    hooks = [net.get_submodule(e["module"]).register_forward_hook(
        lambda m, i, o, name=e["module"]: stats.__setitem__(name, module_stats(o))) for e in ref]
    with torch.no_grad():
        out = net(io["x"].double(), io["timesteps"])
        sin = net.timestep_features(io["timesteps"])
        mlp = net.embed_time(io["timesteps"])
    for h in hooks:
        h.remove()
    assert out.dtype == torch.float64
    assert (out - io["out_f64"]).abs().max().item() <= 1e-9
    assert (sin - io["temb_sin_f64"]).abs().max().item() <= 1e-12
    assert (mlp - io["temb_mlp_f64"]).abs().max().item() <= 1e-12
    for e in ref:  # locate the first block that deviates, if any
        got = stats[e["module"]]
        for key in ("mean", "std", "absmax"):
            assert math.isclose(got[key], e[key], rel_tol=1e-9, abs_tol=1e-10), (e["module"], key)
        assert math.isclose(got["sum"], e["sum"], rel_tol=1e-9, abs_tol=1e-6), e["module"]
        assert torch.allclose(torch.tensor(got["first8"]), torch.tensor(e["first8"]), rtol=1e-9, atol=1e-10), e["module"]


def test_float64_with_float32_time_embedding_matches_upstream_hardcoded_cast(small_net, io):
    net = build_adm("small", time_embedding_dtype=torch.float32).eval()
    net.load_state_dict(small_net.state_dict())
    net = net.double()
    with torch.no_grad():
        out = net(io["x"].double(), io["timesteps"])
    assert (out - io["out_f64_embf32"]).abs().max().item() <= 1e-9
    assert (out - io["out_f64"]).abs().max().item() > 1e-7  # the two references really differ


def test_fractional_timesteps_and_input_dtype(small_net, io):
    net = small_net.float()
    x = io["x"][:1]
    with torch.no_grad():
        a = net(x, torch.tensor([37]))
        b = net(x.double(), torch.tensor([37.0], dtype=torch.float64))  # cast to the net's dtype
        c = net(x, torch.tensor([37.5], dtype=torch.float64))
        d = net(x, torch.tensor(37.0))  # 0-d timesteps broadcast over the batch
    assert b.dtype == torch.float32
    assert torch.equal(a, b) and torch.equal(a, d)
    assert torch.isfinite(c).all() and not torch.equal(a, c)


def test_bfloat16_runs_close_to_float32(small_net, io):
    net = build_adm("small").eval()
    net.load_state_dict(small_net.state_dict())
    net = net.to(torch.bfloat16)
    with torch.no_grad():
        out = net(io["x"][:1], io["timesteps"][:1])  # one image: bfloat16 convolutions are slow on CPU
    assert out.dtype == torch.bfloat16
    ref = io["out_f32"][:1]
    err = (out.float() - ref).abs().max().item()
    assert err < 0.06 * ref.abs().max().item()  # measured about 2.5 % of the absmax


def test_bad_timesteps_shape_raises(small_net, io):
    with pytest.raises(ValueError, match="timesteps"):
        small_net(io["x"], torch.tensor([1, 2, 3]))


def test_unknown_config_raises():
    with pytest.raises(ValueError, match="config"):
        build_adm("medium")
