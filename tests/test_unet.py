import pytest
import torch

from rwbench.nets.unet import UNet, count_parameters, scalar_embedding
from rwbench.training.config import NET_DEFAULTS, load_embedded_config


def _randomise_head(net):
    torch.manual_seed(0)
    for p in net.parameters():
        if p.abs().sum() == 0:
            torch.nn.init.normal_(p, std=0.05)
    return net


def test_default_unet_size_is_in_the_issue_range():
    cfg = dict(NET_DEFAULTS, **load_embedded_config("config/embedded-default.yaml")["net"])
    n = count_parameters(UNet(**cfg))
    assert 0.5e6 <= n <= 3e6


@pytest.mark.parametrize("res", [16, 32])
def test_shapes_and_per_sample_conditioning(res):
    net = _randomise_head(UNet(base_channels=8, channel_mult=(1, 2), emb_dim=32, heads=2, groups=4))
    x = torch.randn(3, 1, res, res)
    c = torch.tensor([0.0, 10.0, 500.0])
    y = net(x, c)
    assert y.shape == x.shape
    # each sample only sees its own conditioning value
    y1 = net(x[1:2], c[1:2])
    assert torch.allclose(y[1:2], y1, atol=1e-5)
    assert not torch.allclose(net(x, torch.zeros(3)), y)
    assert torch.allclose(net(x, torch.tensor(10.0))[1], y[1], atol=1e-5)


def test_gradients_reach_every_parameter():
    net = _randomise_head(UNet(base_channels=8, channel_mult=(1, 2, 2), emb_dim=32, heads=2, groups=4))
    net(torch.randn(2, 1, 16, 16), torch.tensor([1.0, 2.0])).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_bad_inputs():
    net = UNet(base_channels=8, channel_mult=(1, 2), emb_dim=32, heads=2, groups=4)
    with pytest.raises(ValueError, match="multiples"):
        net(torch.randn(1, 1, 10, 10), torch.zeros(1))
    with pytest.raises(ValueError, match="cond"):
        net(torch.randn(2, 1, 16, 16), torch.zeros(3))


def test_scalar_embedding():
    e = scalar_embedding(torch.tensor([0.0, 1.0]), 8)
    assert e.shape == (2, 8)
    assert torch.allclose(e[0], torch.tensor([1.0] * 4 + [0.0] * 4))


def test_input_skip_adds_a_learned_gain_times_the_input():
    torch.manual_seed(0)
    kw = dict(base_channels=8, channel_mult=(1, 2), emb_dim=32, heads=2, groups=4)
    plain = _randomise_head(UNet(**kw))
    skip = UNet(**kw, input_skip=True)
    missing, unexpected = skip.load_state_dict(plain.state_dict(), strict=False)
    assert set(missing) == {"skip_gain.weight", "skip_gain.bias"} and not unexpected
    x, c = torch.randn(2, 1, 16, 16), torch.tensor([3.0, 7.0])
    assert torch.equal(skip(x, c), plain(x, c))  # zero-initialised gain: starts as the plain UNet
    with torch.no_grad():
        skip.skip_gain.bias.fill_(0.5)
    assert torch.allclose(skip(x, c) - plain(x, c), 0.5 * x, atol=1e-6)
    skip(x, c).square().mean().backward()
    assert skip.skip_gain.weight.grad.abs().sum() > 0
    assert UNet(**skip.config).config == skip.config
    with pytest.raises(ValueError, match="input_skip"):
        UNet(**kw, out_channels=2, input_skip=True)
