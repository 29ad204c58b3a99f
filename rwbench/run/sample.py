"""`rwbench sample`: generate one shard of one run (docs/run-layout.md), written atomically with its provenance."""

from __future__ import annotations


import torch


DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
_DENOISERS: dict = {}   # (registry, checkpoint, loader options, device, dtype) -> denoiser, for `rwbench batch`


def cached_denoiser(spec: dict, device, dtype):
    """The spec's denoiser, loaded once per process (a batch of sample commands shares it)."""
    from rwbench.run.runners import load_denoiser

    key = (spec["registry"], str(spec.get("checkpoint")), repr(sorted((spec.get("loader_options") or {}).items())),
           str(device), str(dtype))
    if key not in _DENOISERS:
        _DENOISERS[key] = load_denoiser(spec, device, dtype)
    return _DENOISERS[key]


def shard_indices(spec: dict, shard: int) -> list[int]:
    """Global image indices of shard `shard`: [shard * shard_size, min(n_images, (shard + 1) * shard_size))."""
    n, size, n_shards = int(spec["n_images"]), int(spec["shard_size"]), int(spec["n_shards"])
    if not 0 <= shard < n_shards:
        raise ValueError(f"--shard {shard}: run {spec['run_id']} has shards 0..{n_shards - 1}")
    return list(range(shard * size, min(n, (shard + 1) * size)))


def sample_images(spec: dict, indices, *, device="cpu", batch_size: int | None = None, denoiser=None, progress=False) -> dict:
    """The shard dict for `indices` (sampled in batches of `batch_size`; images do not depend on it)."""
    from rwbench.data import to_uint8
    from rwbench.core.divergence import diverged as diverged_samples
    from rwbench.run.runners import run_sampler, to_unit

    dtype = DTYPES[spec.get("dtype", "float32")]
    denoiser = denoiser if denoiser is not None else cached_denoiser(spec, device, dtype)
    batch_size = batch_size or len(indices)
    parts = []
    for start in range(0, len(indices), batch_size):
        parts.append(run_sampler(spec, denoiser, indices[start:start + batch_size], device=device, dtype=dtype,
                                 progress=progress))
    x = torch.cat([p["x"].detach().float().cpu() for p in parts])
    unit = to_unit(x, spec["data_range"]).float()
    diverged = diverged_samples(unit)   # non-finite or far outside [0, 1] (rwbench.core.divergence: one threshold)
    shard = {"index": torch.tensor(indices, dtype=torch.long), "sample": unit,
             "sample_uint8": to_uint8(torch.where(diverged[:, None, None, None], torch.zeros_like(unit), unit)),
             "diverged": diverged}
    if spec["task"] == "uncond":
        shard["target"] = shard["index"].clone()
    else:
        shard["target"] = torch.cat([p["targets"] for p in parts])
        shard["ground_truth"] = torch.cat([to_unit(p["inverse"].ground_truth, spec["data_range"]) for p in parts]).float()
        shard["measurement"] = torch.cat([p["inverse"].y.detach().float().cpu() for p in parts])
        for key in ("exact_mmse", "exact_draw", "exact_reference"):
            if key in parts[0]:
                shard[key] = torch.cat([to_unit(p[key], spec["data_range"]) for p in parts]).float()
    if "trajectory" in parts[0]:
        traj = [p["trajectory"] for p in parts]
        shard["_trajectory"] = {"index": torch.cat([t["index"] for t in traj]), "step": traj[0]["step"],
                                "sigma": traj[0]["sigma"], "x": torch.cat([t["x"] for t in traj], 1),
                                "denoised": torch.cat([t["denoised"] for t in traj], 1)}
    if "step_param" in parts[0]:        # a posterior sampler's resolved main step parameter (DPS: zeta)
        shard["_step_param"] = parts[0]["step_param"]
    return shard

