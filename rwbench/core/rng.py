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
    """n_k ~ N(0, I) shaped like x: slice k of an explicit noise tensor, a noise source with draw(k, x) (the coupled
    Brownian step noise of rwbench.core.brownian.LadderNoise), per-image generators, or one generator."""
    if noise is not None:
        return noise[k].to(device=x.device, dtype=x.dtype)
    if hasattr(generator, "draw"):
        return generator.draw(k, x)
    if isinstance(generator, (list, tuple)):
        return randn_per_image(generator, x.shape[1:], dtype=torch.float64).to(device=x.device, dtype=x.dtype)
    device = generator.device if generator is not None else "cpu"
    return torch.randn(tuple(x.shape), generator=generator, dtype=torch.float64, device=device).to(x.device, x.dtype)


# ---------------------------------------------------------------- named seed streams (one home)
#
# Every random quantity of a run comes from image_seed(seed, stream, index) with the stream named here, so that the DAG
# (rwbench.run.runners) and the posterior benchmark (rwbench.tools.bench.posterior) draw identical masks, measurements, initial
# noise and exact posterior draws for the same seed. `task` is the grid's task key (inpaint, box, sr, deblur, uncond).
# Indices: masks, measurements and ground truths are per target; noise and exact draws are per image, where image j of
# target t is index t * samples_per_target + j (sample_index).
STREAMS = {
    "noise": "{task}",                          # x_T and step noise of the sampler
    "brownian": "{task}/brownian",              # image i's Brownian path: coupled step noise (rwbench.core.brownian)
    "start": "{task}/start",                    # mixture component of image i's exact start x_T ~ p_{sigma_0} (oracle)
    "mask": "{task}/mask",                      # inpainting mask / box position of target t
    "measure": "{task}/measure",                # measurement noise n of y = A x + eta n for target t
    "exact": "{task}/exact",                    # exact posterior draw of image i (oracle)
    "exact-reference": "{task}/exact-reference",  # a second, independent exact draw of image i (exact-vs-exact band)
    "truth": "{task}/truth",                    # ground truth of target t drawn from an oracle prior (benchmark)
}


def stream(kind: str, task: str) -> str:
    """The seed-stream name of a kind of draw (STREAMS) for a task."""
    if kind not in STREAMS:
        raise ValueError(f"stream: unknown kind {kind!r}; choose one of {', '.join(STREAMS)}")
    return STREAMS[kind].format(task=task)


def stream_seed(seed: int, kind: str, task: str, index: int) -> int:
    """image_seed of index `index` in the named stream (e.g. the mask seed of target `index`)."""
    return image_seed(seed, stream(kind, task), index)


def stream_generators(seed: int, kind: str, task: str, indices: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """image_generators of the named stream for `indices`."""
    return image_generators(seed, stream(kind, task), indices, device=device)


def sample_index(target: int, j: int, samples_per_target: int) -> int:
    """Image index of draw j of target `target` when every target gets samples_per_target draws."""
    if not 0 <= j < samples_per_target:
        raise ValueError(f"j: need 0 <= j < samples_per_target ({samples_per_target}), got {j}")
    return int(target) * int(samples_per_target) + int(j)
