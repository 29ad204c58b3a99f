"""PSNR (standard and min-max), SSIM, LPIPS through the real lpips code path, and their aggregation."""

import math

import numpy as np
import pytest
import torch

from rwbench.metrics import uncertainty as aggregation
from rwbench.metrics import image_quality as iq


def images(n=4, c=1, h=16, w=16, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_psnr_standard_known_value_and_clipping():
    gt = torch.full((2, 1, 8, 8), 0.5)
    assert iq.psnr(gt + 0.1, gt) == pytest.approx(torch.full((2,), 20.0, dtype=torch.float64))
    # values beyond the data range are clipped before the error: 1.7 -> 1.0, error 0.5
    assert iq.psnr(torch.full_like(gt, 1.7), gt)[0].item() == pytest.approx(-10 * math.log10(0.25))
    assert torch.isinf(iq.psnr(gt, gt)).all()


def test_psnr_minmax_is_affine_invariant_and_differs_from_standard():
    gt, x = images(seed=1), images(seed=2)
    base = iq.psnr_minmax(x, gt)
    assert torch.allclose(iq.psnr_minmax(3.0 * x - 0.7, gt), base)
    assert (iq.psnr_minmax(2.0 * gt + 1.0, gt) > 100).all()  # equal up to float64 round-off
    by_hand = []
    for a, b in zip(x, gt):
        a = (a - a.min()) / (a.max() - a.min())
        b = (b - b.min()) / (b.max() - b.min())
        by_hand.append(10 * math.log10(1.0 / float(((a - b) ** 2).mean())))
    assert base.tolist() == pytest.approx(by_hand, rel=1e-6)
    shifted = (gt * 0.5 + 0.25)
    assert not torch.allclose(iq.psnr(shifted, gt), iq.psnr_minmax(shifted, gt))


def test_ssim_identity_noise_and_skimage_agreement():
    from skimage.metrics import structural_similarity

    gt = images(n=3, c=3, h=24, w=24, seed=3)
    assert torch.allclose(iq.ssim(gt, gt), torch.ones(3, dtype=torch.float64))
    gen = torch.Generator().manual_seed(4)
    noisy = [iq.ssim(gt + s * torch.randn(gt.shape, generator=gen), gt).mean().item() for s in (0.05, 0.2, 0.5)]
    assert noisy[0] > noisy[1] > noisy[2]
    x = (gt + 0.1 * torch.randn(gt.shape, generator=gen)).clamp(0, 1)
    direct = structural_similarity(x[0].double().numpy(), gt[0].double().numpy(), data_range=1.0, channel_axis=0)
    assert iq.ssim(x, gt)[0].item() == pytest.approx(direct, rel=1e-9)
    assert iq.ssim_window(8, 8) == 7 and iq.ssim_window(6, 9) == 5


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="matching"):
        iq.psnr(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))


def test_summarize_mean_se_bootstrap():
    values = np.random.default_rng(0).normal(3.0, 2.0, size=400)
    s = aggregation.summarize(values, n_boot=2000, seed=1)
    assert s["n"] == 400 and s["mean"] == pytest.approx(values.mean())
    assert s["se"] == pytest.approx(values.std(ddof=1) / 20.0)
    assert s["ci95_lo"] < s["mean"] < s["ci95_hi"]
    assert s["ci95_hi"] - s["ci95_lo"] == pytest.approx(2 * 1.96 * s["se"], rel=0.15)
    with_nan = aggregation.summarize(np.r_[values, np.nan])
    assert with_nan["n"] == 400
    rows = aggregation.summary_rows("psnr", values)
    assert [r[0] for r in rows] == ["psnr", "psnr_se", "psnr_ci95_lo", "psnr_ci95_hi"]
    assert math.isnan(aggregation.summarize([np.nan])["mean"])


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_lpips_missing_backbone_is_one_clear_line(torch_home):
    from rwbench.metrics.lpips_metric import LPIPSMetric

    with pytest.raises(FileNotFoundError) as err:
        LPIPSMetric("alex")
    message = str(err.value)
    assert "\n" not in message
    assert str(torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in message and "--no-lpips" in message
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        LPIPSMetric("vgg")


def test_lpips_real_code_path_zero_on_identity_and_monotone_in_noise(torch_home):
    import torchvision

    from rwbench.metrics.lpips_metric import LPIPSMetric

    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet().state_dict(), checkpoints / "alexnet-random.pth")
    metric = LPIPSMetric("alex", backbone=checkpoints / "alexnet-random.pth")
    x = images(n=6, c=1, h=16, w=16, seed=5)
    assert torch.equal(metric(x, x), torch.zeros(6, dtype=torch.float64))
    gen = torch.Generator().manual_seed(6)
    means = [metric((x + s * torch.randn(x.shape, generator=gen)).clamp(0, 1), x).mean().item()
             for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(a < b for a, b in zip(means, means[1:])), means
    assert "upsample to side 64" in metric.conversion(16, 16) and "alex@" in metric.label()
