"""`rwbench generate` (CLI; the work is done by rwbench.tools.oneshot.one_cell_spec and generate)."""

from __future__ import annotations

import argparse

from rwbench.plan.samplers import AXES
from rwbench.plan.config import defaults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench generate`; unset sampler options take the sampler table's defaults (rwbench.plan.samplers)."""
    parser.add_argument("--model", required=True, help="a model declared under `models:` of --config")
    parser.add_argument("--sampler", required=True, help="sampler name (rwbench.plan.grid.SAMPLERS), e.g. simplified")
    parser.add_argument("--n", type=int, required=True, help="number of images")
    parser.add_argument("--out", required=True, help="folder for <index>.png, samples.npz and spec.json")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file or earlier output")
    parser.add_argument("--config", default="config/default.yaml",
                        help="config whose `models:` section declares --model (its experiments are ignored)")
    parser.add_argument("--steps", type=int, default=None, help=f"iterations K (default: {AXES['steps'].default}, rwbench.plan.samplers)")
    parser.add_argument("--schedule", default=None, help=f"noise ladder (default: {AXES['schedule'].default}, rwbench.plan.samplers)")
    parser.add_argument("--c", type=float, default=None, help=f"step factor tau = c sigma^2 (default: {AXES['c'].default}, rwbench.plan.samplers)")
    parser.add_argument("--T0", type=float, default=None, help=f"start temperature (default: {AXES['T0'].default}, rwbench.plan.samplers)")
    parser.add_argument("--TK", type=float, default=None, help=f"end temperature (default: {AXES['TK'].default}, rwbench.plan.samplers)")
    parser.add_argument("--seed", type=int, default=None, help=f"base seed of the per-image noise (default: {defaults()['seed']}, the schema's)")
    parser.add_argument("--device", default=defaults()["device"], help="cpu or cuda[:i]")
    parser.add_argument("--batch-size", type=int, default=None, help="images per sampler call (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    """Sample the one cell and print where the images went."""
    from rwbench.plan.config import load_config
    from rwbench.tools.oneshot import generate, one_cell_spec

    if args.n < 1:
        raise ValueError(f"--n: need at least one image, got {args.n}")
    spec = one_cell_spec(load_config(args.config), args.model, args.sampler, args.n, steps=args.steps,
                         schedule=args.schedule, c=args.c, T0=args.T0, TK=args.TK, seed=args.seed)
    info = generate(spec, args.out, device=args.device, batch_size=args.batch_size, progress=not args.no_progress,
                    force=args.force)
    print(f"{spec['run_id']}: {info['images']} images ({info['diverged']} diverged, left out) -> {info['out']}")
    return 0
