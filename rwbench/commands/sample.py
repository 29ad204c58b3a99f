"""`rwbench sample`: generate one shard of one run (docs/run-layout.md), written atomically with its provenance."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from rwbench.io import atomic_path, read_json, write_json

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
_DENOISERS: dict = {}   # (registry, checkpoint, loader options, device, dtype) -> denoiser, for `rwbench batch`


def cached_denoiser(spec: dict, device, dtype):
    """The spec's denoiser, loaded once per process (a batch of sample commands shares it)."""
    from rwbench.sampling import load_denoiser

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
    from rwbench.divergence import diverged as diverged_samples
    from rwbench.sampling import run_sampler, to_unit

    dtype = DTYPES[spec.get("dtype", "float32")]
    denoiser = denoiser if denoiser is not None else cached_denoiser(spec, device, dtype)
    batch_size = batch_size or len(indices)
    parts = []
    for start in range(0, len(indices), batch_size):
        parts.append(run_sampler(spec, denoiser, indices[start:start + batch_size], device=device, dtype=dtype,
                                 progress=progress))
    x = torch.cat([p["x"].detach().float().cpu() for p in parts])
    unit = to_unit(x, spec["data_range"]).float()
    diverged = diverged_samples(unit)   # non-finite or far outside [0, 1] (rwbench.divergence: one threshold)
    shard = {"index": torch.tensor(indices, dtype=torch.long), "sample": unit,
             "sample_uint8": to_uint8(torch.where(diverged[:, None, None, None], torch.zeros_like(unit), unit)),
             "diverged": diverged}
    if spec["task"] == "uncond":
        shard["target"] = shard["index"].clone()
    else:
        shard["target"] = torch.cat([p["targets"] for p in parts])
        shard["ground_truth"] = torch.cat([to_unit(p["inverse"].ground_truth, spec["data_range"]) for p in parts]).float()
        shard["measurement"] = torch.cat([p["inverse"].y.detach().float().cpu() for p in parts])
        for key in ("exact_mmse", "exact_draw"):
            if key in parts[0]:
                shard[key] = torch.cat([to_unit(p[key], spec["data_range"]) for p in parts]).float()
    if "trajectory" in parts[0]:
        traj = [p["trajectory"] for p in parts]
        shard["_trajectory"] = {"index": torch.cat([t["index"] for t in traj]), "step": traj[0]["step"],
                                "sigma": traj[0]["sigma"], "x": torch.cat([t["x"] for t in traj], 1),
                                "denoised": torch.cat([t["denoised"] for t in traj], 1)}
    if "zeta" in parts[0]:
        shard["_zeta"] = parts[0]["zeta"]
    return shard


def save_torch(obj, path) -> None:
    """torch.save through a temporary file and an atomic rename."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI options of `rwbench sample`."""
    parser.add_argument("--spec", required=True, help="the run's spec.json (written by `rwbench plan`)")
    parser.add_argument("--shard", type=int, required=True, help="shard number, 0 .. n_shards-1")
    parser.add_argument("--out", default=None, help="shard file (default: <run>/shards/shard-<shard>.pt)")
    parser.add_argument("--provenance", default=None, help="provenance JSON (default: <run>/provenance-<shard>.json)")
    parser.add_argument("--trajectory", default=None, help="trajectory file (default: <run>/trajectories/shard-<shard>.pt)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per sampler call (default: the whole shard)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    """Sample one shard; write the shard, its trajectory (if requested by the spec) and its provenance atomically."""
    from rwbench.devices import pin_device
    from rwbench.provenance import provenance

    args.device = pin_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec_path = Path(args.spec)
    if not spec_path.is_file():
        raise SystemExit(f"rwbench sample: {spec_path} does not exist; write it with `rwbench plan --config ... --run ... --out {spec_path}`")
    spec = read_json(spec_path)
    run_dir = spec_path.parent
    name = f"{args.shard:05d}"
    out = Path(args.out or run_dir / "shards" / f"shard-{name}.pt")
    prov_path = Path(args.provenance or run_dir / f"provenance-{name}.json")
    indices = shard_indices(spec, args.shard)
    t0 = time.perf_counter()
    shard = sample_images(spec, indices, device=args.device, batch_size=args.batch_size, progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    traj = shard.pop("_trajectory", None)
    zeta = shard.pop("_zeta", None)
    # always written (None when the spec records no trajectory) so the DAG can declare it as an output
    save_torch(traj, Path(args.trajectory or run_dir / "trajectories" / f"shard-{name}.pt"))
    save_torch(shard, out)
    info = dict(provenance(args.device), run_id=spec["run_id"], shard=args.shard, n_images=len(indices),
                seconds=round(seconds, 3), seconds_per_image=round(seconds / max(1, len(indices)), 5),
                nfe_per_image=spec["nfe"], nfe_total=spec["nfe"] * len(indices),
                diverged=int(shard["diverged"].sum()), batch_size=args.batch_size or len(indices))
    if zeta is not None:
        info["dps_zeta"] = zeta
    write_json(prov_path, info)
    print(f"{spec['run_id']} shard {args.shard}: {len(indices)} images in {seconds:.1f} s, "
          f"{int(shard['diverged'].sum())} diverged")
    return 0
