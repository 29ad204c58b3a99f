"""Per-image PSNR (standard and the paper's min-max variant) and SSIM on [0, 1] images [N, C, H, W]."""

from __future__ import annotations

import numpy as np
import torch

STANDARD = "clip to [0,1], peak 1"
MINMAX = "min-max normalise each image to [0,1] over all pixels, peak 1 (paper code)"


def _pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"images: need matching [N, C, H, W] shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    return x.detach().cpu().to(torch.float64), y.detach().cpu().to(torch.float64)


def _psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    return torch.where(mse > 0, -10.0 * torch.log10(mse), torch.full_like(mse, float("inf")))


def psnr(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Standard PSNR per image: 10 log10(1 / mean((clip(x, 0, 1) - target)^2)), target on [0, 1]."""
    x, target = _pair(x, target)
    mse = (x.clamp(0, 1) - target).pow(2).flatten(1).mean(1)
    return _psnr_from_mse(mse)


def minmax_normalise(x: torch.Tensor) -> torch.Tensor:
    """Per image: (x - min x) / (max x - min x) over all pixels and channels (0 where the image is constant)."""
    flat = x.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    scale = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return ((flat - lo[:, None]) / scale[:, None]).view_as(x)


def psnr_minmax(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Paper's PSNR per image: 10 log10(1 / MSE) after min-max normalising x and target each to [0, 1]."""
    x, target = _pair(x, target)
    mse = (minmax_normalise(x) - minmax_normalise(target)).pow(2).flatten(1).mean(1)
    return _psnr_from_mse(mse)


def ssim(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM per image (Wang et al. 2004, skimage.metrics.structural_similarity, 7x7 uniform window or the
    largest odd window that fits, data_range 1) of clip(x, 0, 1) against target."""
    from skimage.metrics import structural_similarity

    x, target = _pair(x, target)
    side = min(x.shape[-2:])
    if side < 3:
        raise ValueError(f"ssim: images of side {side} are too small (need >= 3)")
    win = min(7, side if side % 2 else side - 1)
    xs, ts = x.clamp(0, 1).numpy(), target.numpy()
    values = [structural_similarity(a, b, data_range=1.0, channel_axis=0, win_size=win) for a, b in zip(xs, ts)]
    return torch.tensor(np.asarray(values, dtype=np.float64))


def ssim_window(height: int, width: int) -> int:
    """Window side used by ssim() for an image of this size."""
    side = min(height, width)
    return min(7, side if side % 2 else side - 1)
