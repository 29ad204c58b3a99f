"""`rwbench scalespace` (CLI; the work is done by rwbench.scalespace.runs)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rwbench.plan.config import defaults

SCALESPACE = defaults("scalespace")


def _reference_spec(spec: dict, args) -> dict:
    if args.reference is not None:
        return {"kind": "file", "path": str(args.reference)}
    if args.dataset is not None:
        return {"kind": "dataset", "dataset": args.dataset, "split": args.split,
                "resolution": int(args.resolution or spec.get("resolution") or 16)}
    if not spec.get("reference"):
        raise ValueError("spec.json: no 'reference'; pass --reference FILE or --dataset NAME")
    return spec["reference"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench scalespace`."""
    parser.add_argument("--run", type=Path, help="run directory with spec.json and trajectories/shard-*.pt")
    parser.add_argument("--reference", type=Path,
                        help="uint8 tensor file [N, C, H, W] (torch.save) overriding the spec's reference")
    parser.add_argument("--dataset", help="reference dataset (digits | faces | ffhq) overriding spec reference")
    parser.add_argument("--split", default="test", help="split of --dataset")
    parser.add_argument("--resolution", type=int, help="resolution of --dataset; unset: the spec's resolution")
    parser.add_argument("--max-reference", type=int, default=SCALESPACE["max_reference"], help="use at most this many reference images")
    parser.add_argument("--seed", type=int, default=SCALESPACE["seed"], help="seed of the exact forward marginal's noise (D7)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the D7 curves (forward, heat, osmosis)")
    parser.add_argument("--osmosis-steps", type=int, default=SCALESPACE["osmosis_steps"], help="implicit osmosis steps of the D7 osmosis curve")
    parser.add_argument("--osmosis-relax", type=float, default=SCALESPACE["osmosis_relax"],
                        help="osmosis end time in units of the slowest Neumann mode's decay time (max(H,W)/pi)^2")
    parser.add_argument("--dense-limit", type=int, default=SCALESPACE["dense_limit"],
                        help="above this many dimensions: diagonal-DCT entropy, Frechet on downsampled images")
    parser.add_argument("--frechet-resolution", type=int, default=SCALESPACE["frechet_resolution"], help="Frechet resolution above --dense-limit")
    parser.add_argument("--fid-points", type=int, default=SCALESPACE["fid_points"],
                        help="feature FID at this many evenly spread trajectory points (0: none; about 10 at 256 px)")
    parser.add_argument("--extractor", default=None,
                        help="FID feature extractor (default: digits-cnn for digits, inception-v3-compat otherwise)")
    parser.add_argument("--extractor-weights", default=None, help="weights file of the FID extractor")
    parser.add_argument("--reference-cache", default="results/reference",
                        help="cache directory of reference feature statistics (shared with rwbench evaluate)")
    parser.add_argument("--device", default=defaults()["device"], help="device of the FID extractor (cpu, cuda)")
    parser.add_argument("--batch-size", type=int, default=SCALESPACE["batch_size"], help="FID feature extraction batch size")
    parser.add_argument("--figure", action="store_true", help="build the figure and table from all runs instead")
    parser.add_argument("--runs-dir", type=Path, default=Path("results/runs"), help="with --figure: runs to read")
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="with --figure: writes figures/scalespace.{png,pdf} and tables/scalespace.{csv,md} here")


def run(args: argparse.Namespace) -> int:
    """Entry point of `rwbench scalespace`."""
    import torch

    from rwbench.io import read_json
    from rwbench.scalespace.runs import scalespace_run

    torch.set_num_threads(1)
    start = time.perf_counter()
    if args.figure:
        from rwbench.figures.scalespace import build_figure_and_table

        written = build_figure_and_table(args.runs_dir, args.out)
        print(f"scalespace figure: {', '.join(str(p) for p in written)} ({time.perf_counter() - start:.2f} s)")
        return 0
    if args.run is None:
        raise ValueError("--run: give a run directory (or --figure to build the figure)")
    if args.max_reference < 2:
        raise ValueError(f"--max-reference: need at least 2 images, got {args.max_reference}")
    if args.fid_points < 0:
        raise ValueError(f"--fid-points: need 0 (no FID) or more points, got {args.fid_points}")
    spec = read_json(Path(args.run) / "spec.json")
    fid_options = None
    if args.fid_points:
        from rwbench.run.devices import pin_device
        from rwbench.metrics.evaluate import default_extractor

        args.device = pin_device(args.device)

        fid_options = {"extractor": args.extractor or default_extractor(spec), "weights": args.extractor_weights,
                       "cache_dir": args.reference_cache, "device": args.device, "batch_size": args.batch_size}
    rows, mono = scalespace_run(args.run, _reference_spec(spec, args), args.max_reference, args.seed,
                                not args.no_baselines, args.osmosis_steps, args.osmosis_relax,
                                args.dense_limit, args.frechet_resolution, args.fid_points, fid_options)
    curves = sorted({r["curve"] for r in rows})
    print(f"scalespace {spec.get('run_id', Path(args.run).name)}: {len(rows)} rows, curves {', '.join(curves)}, "
          f"{len(mono)} monotonicity scores -> {Path(args.run) / 'scalespace.csv'} ({time.perf_counter() - start:.2f} s)")
    return 0
