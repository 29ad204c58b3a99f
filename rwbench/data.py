"""Datasets (embedded digits and faces, image folders such as FFHQ) and the one float <-> uint8 conversion."""

from __future__ import annotations

import torch


def to_uint8(x: torch.Tensor, data_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Map floats on `data_range` to uint8 by x -> clamp(round(255 (x - lo) / (hi - lo)), 0, 255)."""
    lo, hi = float(data_range[0]), float(data_range[1])
    if not hi > lo:
        raise ValueError(f"data_range: need lo < hi, got {data_range}")
    scaled = (x.detach().to(torch.float64) - lo) * (255.0 / (hi - lo))
    scaled = torch.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return scaled.round().clamp(0, 255).to(torch.uint8)


def from_uint8(x: torch.Tensor, data_range: tuple[float, float] = (0.0, 1.0), dtype=torch.float32) -> torch.Tensor:
    """Map uint8 images to floats on `data_range`: lo + (hi - lo) x / 255."""
    if x.dtype != torch.uint8:
        raise ValueError(f"from_uint8: expected a uint8 tensor, got {x.dtype}")
    lo, hi = float(data_range[0]), float(data_range[1])
    return (x.to(torch.float64) * ((hi - lo) / 255.0) + lo).to(dtype)
