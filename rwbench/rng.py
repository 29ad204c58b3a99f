"""Per-image random number generators: image i of a run never depends on its batch or shard."""

from __future__ import annotations

import hashlib
from typing import Sequence

import torch


def image_seed(seed: int, task: str, index: int) -> int:
    """Deterministic 63-bit seed of image `index` for (base seed, task) via SHA-256."""
    digest = hashlib.sha256(f"{int(seed)}|{task}|{int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def image_generators(seed: int, task: str, indices: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One torch.Generator per image, seeded by image_seed(seed, task, i)."""
    gens = []
    for i in indices:
        g = torch.Generator(device=device)
        g.manual_seed(image_seed(seed, task, i))
        gens.append(g)
    return gens


def randn_per_image(generators: Sequence[torch.Generator], shape: Sequence[int], *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Stack one N(0, I) draw of `shape` (one image) from each generator into a batch."""
    if len(generators) == 0:
        raise ValueError("generators: need one generator per image, got an empty list")
    device = device if device is not None else generators[0].device
    draws = [torch.randn(tuple(shape), generator=g, dtype=dtype, device=g.device) for g in generators]
    return torch.stack(draws).to(device)


def step_noise(noise: torch.Tensor | None, k: int, x: torch.Tensor, generator=None) -> torch.Tensor:
    """n_k ~ N(0, I) shaped like x: slice k of an explicit noise tensor, per-image generators, or one generator."""
    if noise is not None:
        return noise[k].to(device=x.device, dtype=x.dtype)
    if isinstance(generator, (list, tuple)):
        return randn_per_image(generator, x.shape[1:], dtype=torch.float64).to(device=x.device, dtype=x.dtype)
    device = generator.device if generator is not None else "cpu"
    return torch.randn(tuple(x.shape), generator=generator, dtype=torch.float64, device=device).to(x.device, x.dtype)
