"""NCSN++: state-dict layout of the score_sde FFHQ-256 model, FIR resampling and the golden reduced model's outputs."""

from __future__ import annotations

import math

import pytest
import torch

from rwbench.nets.layers import fir_downsample2x, fir_kernel_2d, fir_upsample2x, upfirdn2d_reference
from rwbench.nets.ncsnpp import AttnBlock, Combine, GaussianFourierProjection, ResnetBlockBigGAN, build_ncsnpp

try:
    from tests.golden import key_shape_dtype_sha256, load_json, load_tensors, module_stats
except ImportError:  # tests/ on sys.path (pytest's rootdir-less prepend mode)
    from golden import key_shape_dtype_sha256, load_json, load_tensors, module_stats

CLASSES = {"ResnetBlockBigGANpp": ResnetBlockBigGAN, "AttnBlockpp": AttnBlock, "Combine": Combine,
           "GaussianFourierProjection": GaussianFourierProjection, "Linear": torch.nn.Linear,
           "Conv2d": torch.nn.Conv2d, "GroupNorm": torch.nn.GroupNorm}


@pytest.fixture(scope="module")
def small_state():
    return load_tensors("ncsnpp_small_state.pt")


@pytest.fixture(scope="module")
def io():
    return load_tensors("ncsnpp_small_io.pt")


def _small(state, dtype=torch.float32):
    net = build_ncsnpp("small").eval()
    net.load_state_dict(state, strict=True)
    return net.to(dtype)


def _check_module_map(net, module_map):
    for entry in module_map:
        m = net.all_modules[entry["index"]]
        assert isinstance(m, CLASSES[entry["class"]]), entry["index"]
        if entry["class"] == "ResnetBlockBigGANpp":
            assert (m.Conv_0.in_channels, m.Conv_0.out_channels) == (entry["in_ch"], entry["out_ch"]), entry["index"]
            assert (m.up, m.down) == (entry["up"], entry["down"]), entry["index"]
            assert (m.Conv_2 is not None) == entry["has_Conv_2_1x1_skip"], entry["index"]
            for name in ("GroupNorm_0", "GroupNorm_1"):
                gn = getattr(m, name)
                assert [gn.num_groups, gn.num_channels, gn.eps] == entry[name], (entry["index"], name)
        elif entry["class"] == "AttnBlockpp":
            gn = m.GroupNorm_0
            assert [gn.num_groups, gn.num_channels, gn.eps] == entry["GroupNorm_0"], entry["index"]
        elif entry["class"] == "GroupNorm":
            assert (m.num_groups, m.num_channels, m.eps) == (entry["num_groups"], entry["num_channels"], entry["eps"])


def test_full_ffhq256_state_dict_matches_manifest():
    manifest = load_json("ncsnpp_ffhq256_manifest.json")
    with torch.device("meta"):
        net = build_ncsnpp("full")
    state = net.state_dict()
    assert key_shape_dtype_sha256(state) == manifest["state_dict_sha256_of_key_shape_dtype_lines"]
    assert list(state) == [e["key"] for e in manifest["state_dict"]]
    counts = manifest["counts"]
    assert len(state) == counts["num_state_dict_keys"] == 646
    assert sum(p.numel() for p in net.parameters()) == counts["total_parameters"] == 65_574_549
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == counts["total_parameters_requires_grad"]
    assert state["sigmas"].dtype == torch.float64 and state["sigmas"].shape == (2000,)
    assert len(net.all_modules) == len(manifest["module_map"]) == 77
    _check_module_map(net, manifest["module_map"])
    trainable = [name for name, p in net.named_parameters() if p.requires_grad]
    assert trainable == manifest["checkpoint_layout_per_upstream_code"]["ema_shadow_param_order"]


def test_full_ffhq256_call_trace_shapes():
    manifest = load_json("ncsnpp_ffhq256_manifest.json")
    with torch.device("meta"):
        net = build_ncsnpp("full")
        shapes = {}
        hooks = [m.register_forward_hook(lambda mod, i, o, idx=idx: shapes.__setitem__(idx, list(o.shape)))
                 for idx, m in enumerate(net.all_modules)]
        out = net(torch.empty(1, 3, 256, 256), torch.tensor([1.0]))
    for h in hooks:
        h.remove()
    assert list(out.shape) == [1, 3, 256, 256]
    assert [shapes[e["index"]] for e in manifest["call_trace_batch1"]] == [e["output_shape"] for e in manifest["call_trace_batch1"]]


def test_small_state_dict_and_sigmas_match_golden(small_state):
    cfg = load_json("ncsnpp_small_config.json")
    net = build_ncsnpp("small")
    assert key_shape_dtype_sha256(net.state_dict()) == cfg["state_dict_sha256_of_key_shape_dtype_lines"]
    assert sum(p.numel() for p in net.parameters()) == cfg["counts"]["total_parameters"] == 677_023
    assert torch.equal(net.sigmas, small_state["sigmas"])  # 348 ... 0.01, 2000 levels, bit for bit
    _check_module_map(net, cfg["module_map"])
    assert [n for n, p in net.named_parameters() if p.requires_grad] == cfg["ema_shadow_param_order"]


@pytest.mark.parametrize("dtype", [torch.float64])
def test_fir_resampling_equals_direct_upfirdn2d(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 6, generator=g, dtype=dtype)
    asym = torch.rand(4, 4, generator=g, dtype=torch.float64)  # an asymmetric kernel catches flips and offsets
    for k in (fir_kernel_2d((1, 3, 3, 1)), asym):
        down = upfirdn2d_reference(x, k, up=1, down=2, pad=(1, 1))
        up = upfirdn2d_reference(x, 4 * k, up=2, down=1, pad=(2, 1))
        assert down.shape == (2, 3, 4, 3) and up.shape == (2, 3, 16, 12)
        assert torch.allclose(fir_downsample2x(x, k), down, rtol=0, atol=1e-14)
        assert torch.allclose(fir_upsample2x(x, k), up, rtol=0, atol=1e-14)
    k = fir_kernel_2d((1, 3, 3, 1))
    assert torch.allclose(k.sum(), torch.tensor(1.0, dtype=torch.float64)) and k[1, 1] == 9 / 64


def test_float32_matches_upstream(small_state, io):
    net = _small(small_state)
    sigma = io["sigma"]
    with torch.no_grad():
        out = net(io["x"], sigma)
        fourier = net.fourier_features(sigma)
        mlp = net.embed_time(sigma)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 64, 64)
    assert ((out - io["out_f32"]) * sigma[:, None, None, None]).abs().max().item() <= 2e-4
    assert (fourier - io["temb_fourier_f32"]).abs().max().item() <= 1e-6
    assert (mlp - io["temb_mlp_f32"]).abs().max().item() <= 1e-5


def test_float64_matches_upstream_with_block_statistics(small_state, io):
    net = _small(small_state, torch.float64)
    ref = load_json("ncsnpp_small_config.json")["block_stats_f64_call_order"]
    stats = {}
    hooks = [net.get_submodule(e["module"]).register_forward_hook(
        lambda m, i, o, name=e["module"]: stats.__setitem__(name, module_stats(o))) for e in ref]
    sigma = io["sigma"].double()
    with torch.no_grad():
        out = net(io["x"].double(), sigma)
        fourier = net.fourier_features(sigma)
        mlp = net.embed_time(sigma)
    for h in hooks:
        h.remove()
    assert out.dtype == torch.float64
    assert (out - io["out_f64"]).abs().max().item() <= 1e-8
    assert (fourier - io["temb_fourier_f64"]).abs().max().item() <= 1e-12
    assert (mlp - io["temb_mlp_f64"]).abs().max().item() <= 1e-12
    for e in ref:  # locate the first module that deviates, if any
        got = stats[e["module"]]
        for key in ("mean", "std", "absmax"):
            assert math.isclose(got[key], e[key], rel_tol=1e-9, abs_tol=1e-10), (e["module"], key)
        assert math.isclose(got["sum"], e["sum"], rel_tol=1e-9, abs_tol=1e-6), e["module"]
        assert torch.allclose(torch.tensor(got["first8"]), torch.tensor(e["first8"]), rtol=1e-9, atol=1e-10), e["module"]


def test_output_is_score_scaled_by_sigma(small_state, io):
    net = _small(small_state)
    x = io["x"][:1]
    with torch.no_grad():
        a = net(x, torch.tensor([2.0]))
        b = net(x.double(), torch.tensor(2.0, dtype=torch.float64))  # 0-d sigma, input cast to the net's dtype
        pyramid = a * 2.0
        c = net(x, torch.tensor([4.0])) * 4.0
    assert b.dtype == torch.float32 and torch.equal(a, b)
    assert torch.isfinite(pyramid).all() and not torch.allclose(pyramid, c)  # sigma conditions the network


def test_bfloat16_runs_close_to_float32(small_state, io):
    net = _small(small_state, torch.bfloat16)
    sigma = io["sigma"][:1]  # one image (sigma 0.05): bfloat16 convolutions are slow on CPU
    with torch.no_grad():
        out = net(io["x"][:1], sigma)
    assert out.dtype == torch.bfloat16
    ref = io["out_f32"][:1] * sigma[:, None, None, None]
    scaled = out.float() * sigma[:, None, None, None] - ref
    assert net.all_modules[0].W.dtype == torch.float32  # the Fourier weights keep float32 phases
    # measured about 2.5 % of the absmax; bfloat16 Fourier weights (a phase error) give about 37 %
    assert scaled.abs().max().item() < 0.06 * ref.abs().max().item()


def test_bad_sigma_shape_raises(small_state, io):
    net = _small(small_state)
    with pytest.raises(ValueError, match="sigma"):
        net(io["x"], torch.tensor([1.0, 2.0, 3.0]))
