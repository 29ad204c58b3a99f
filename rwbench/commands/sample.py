"""`rwbench sample` (CLI; the work is done by rwbench.run.sample)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rwbench.plan.config import defaults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI options of `rwbench sample`."""
    parser.add_argument("--spec", required=True, help="the run's spec.json (written by `rwbench plan`)")
    parser.add_argument("--shard", type=int, required=True, help="shard number, 0 .. n_shards-1")
    parser.add_argument("--out", default=None, help="shard file (default: <run>/shards/shard-<shard>.pt)")
    parser.add_argument("--provenance", default=None, help="provenance JSON (default: <run>/provenance-<shard>.json)")
    parser.add_argument("--trajectory", default=None, help="trajectory file (default: <run>/trajectories/shard-<shard>.pt)")
    parser.add_argument("--device", default=defaults()["device"], help="cpu or cuda[:i]")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per sampler call (default: the whole shard)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    """Sample one shard; write the shard, its trajectory (if requested by the spec) and its provenance atomically."""
    import torch

    from rwbench.run import rundir
    from rwbench.io import read_json, write_json
    from rwbench.run.rundir import save_torch
    from rwbench.run.sample import sample_images, shard_indices

    from rwbench.run.devices import pin_device
    from rwbench.run.provenance import provenance

    args.device = pin_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec_path = Path(args.spec)
    if not spec_path.is_file():
        raise SystemExit(f"rwbench sample: {spec_path} does not exist; write it with `rwbench plan --config ... --run ... --out {spec_path}`")
    spec = read_json(spec_path)
    run_dir = spec_path.parent
    out = Path(args.out or rundir.shard_path(run_dir, args.shard))
    prov_path = Path(args.provenance or rundir.provenance_path(run_dir, args.shard))
    indices = shard_indices(spec, args.shard)
    t0 = time.perf_counter()
    shard = sample_images(spec, indices, device=args.device, batch_size=args.batch_size, progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    traj = shard.pop("_trajectory", None)
    step_param = shard.pop("_step_param", None) or {}
    # the run id and spec digest go into the shard, its trajectory and its provenance: reading checks them against the
    # run directory's spec.json (rwbench.run.rundir.load_shard), so a shard copied from another run is refused
    ident = rundir.identity(spec)
    shard.update(ident)
    if isinstance(traj, dict):
        traj.update(ident)
    # always written (None when the spec records no trajectory) so the DAG can declare it as an output
    save_torch(traj, Path(args.trajectory or rundir.trajectory_path(run_dir, args.shard)))
    save_torch(shard, out)
    info = dict(provenance(args.device), **ident, shard=args.shard, n_images=len(indices),
                seconds=round(seconds, 3), seconds_per_image=round(seconds / max(1, len(indices)), 5),
                nfe_per_image=spec["nfe"], nfe_total=spec["nfe"] * len(indices),
                diverged=int(shard["diverged"].sum()), batch_size=args.batch_size or len(indices))
    for name, value in step_param.items():   # dps_zeta, pigdm_ddim_eta, ...
        info[f"{spec['sampler']}_{name}"] = value
    write_json(prov_path, info)
    print(f"{spec['run_id']} shard {args.shard}: {len(indices)} images in {seconds:.1f} s, "
          f"{int(shard['diverged'].sum())} diverged")
    return 0
