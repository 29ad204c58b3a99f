"""`rwbench train` (CLI; the work is done by rwbench.training)."""

from __future__ import annotations

import argparse
import time

from rwbench.plan.samplers import TRAINED_FAMILIES

KINDS = TRAINED_FAMILIES + ("classifier",)  # rwbench.training.config.KINDS (torch-free here)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench train`."""
    parser.add_argument("--config", required=True, help="YAML file with an `embedded:` section")
    parser.add_argument("--model", required=True, choices=KINDS + ("all",),
                        help="which model to train; `all` trains vp, ve, iadb and the classifier into --out/<model>")
    parser.add_argument("--out", required=True, help="output folder (model.safetensors, config.json, state.safetensors); "
                                                     "with --model all, the parent of one folder per model")
    parser.add_argument("--jobs", type=int, default=None,
                        help="with --model all: worker processes, one model each (default: the config's embedded.jobs)")
    parser.add_argument("--resume", action="store_true", help="continue from --out/state.safetensors")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Train one model (or all of them) and print a one-line summary per model."""
    import os

    from rwbench.training.config import load_embedded_config
    from rwbench.training import summary, train_all, train_model

    embedded = load_embedded_config(args.config)
    if args.model == "all":
        t_wall = time.perf_counter()
        metas = train_all(embedded, args.out, jobs=args.jobs, resume=args.resume)
        print(f"models={len(metas)} jobs={args.jobs or embedded.get('jobs', 1)} "
              f"wall_seconds={time.perf_counter() - t_wall:.1f} "
              f"cpu_seconds={sum(m['cpu_seconds'] for m in metas.values()):.1f} out={args.out}")
        return 0
    meta = train_model(embedded, args.model, args.out, resume=args.resume,
                       progress=not args.no_progress and not os.environ.get("RWBENCH_NO_PROGRESS"))
    print(summary(args.model, meta, args.out))
    return 0
