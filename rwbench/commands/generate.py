"""`rwbench generate` (CLI; the work is done by rwbench.tools.oneshot.one_cell_spec and generate)."""

from __future__ import annotations

import argparse

from rwbench.plan.config import defaults
from rwbench.plan.oneshot import OPTIONS, option_problem, parse_seeds
from rwbench.plan.samplers import AXES

# the type of each sampler parameter on the command line (rwbench.plan.samplers.AXES names them)
TYPES = {"steps": int, "n_steps_each": int, "schedule": str, "init": str, "variance": str, "convention": str}


def flag(name: str) -> str:
    """The command-line flag of a sampler parameter: --T0, --n-steps-each."""
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench generate`; unset sampler options take the sampler table's defaults (rwbench.plan.samplers)."""
    parser.add_argument("--model", required=True,
                        help="a model preset under `models:` of --config (digits-oracle, digits-vp, digits-ve, "
                             "digits-iadb, faces-oracle in the default config)")
    parser.add_argument("--sampler", required=True, help="sampler name (rwbench.plan.samplers), e.g. simplified")
    parser.add_argument("--seeds", required=True,
                        help="one image per seed, ranges and lists: 0-63 or 1,5,9-12; image s is the same whichever "
                             "other seeds are drawn (and the DAG's image s of that cell)")
    parser.add_argument("--outdir", required=True, help="folder for seed<seed:06d>.png, samples.npz and spec.json")
    parser.add_argument("--checkpoint", default=None, help="weights to load instead of the preset's checkpoint")
    parser.add_argument("--results-dir", default=None,
                        help="where the preset's `embedded:<kind>` checkpoints are (<dir>/embedded/<kind>; default: "
                             "the config's results_dir, results, relative to the working folder)")
    parser.add_argument("--config", default=None,
                        help="YAML whose `models:` section declares --model (its experiments are ignored; default: "
                             "config/default.yaml as installed with rwbench)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --outdir file or earlier output")
    group = parser.add_argument_group("sampler parameters (refused when the sampler does not take them; unset: the "
                                      "sampler table's default, rwbench.plan.samplers)")
    for name in OPTIONS:
        axis = AXES[name]
        if "default" in axis.doc:
            text = axis.doc
        elif axis.default is None:
            text = f"{axis.doc} (default: the algorithm's own)"
        else:
            text = f"{axis.doc} (default: {axis.default} unless the sampler sets its own)"
        group.add_argument(flag(name), dest=name, type=TYPES.get(name, float), default=None, help=text)
    parser.add_argument("--seed", type=int, default=None,
                        help=f"base seed: image s draws from stream (base seed, s) (default: {defaults()['seed']}, "
                             f"the schema's, as the DAG)")
    parser.add_argument("--device", default=defaults()["device"], help="cpu or cuda[:i]")
    parser.add_argument("--batch-size", type=int, default=None, help="images per sampler call (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    """Sample one image per seed and print where they went."""
    options = {name: getattr(args, name) for name in OPTIONS}
    problem = option_problem(args.sampler, options, spell=flag)   # before torch is imported
    if problem:
        raise ValueError(problem)
    seeds = parse_seeds(args.seeds)
    from rwbench.tools.oneshot import generate, one_cell_spec

    spec = one_cell_spec(args.config, args.model, args.sampler, seeds, checkpoint=args.checkpoint,
                         results_dir=args.results_dir, seed=args.seed, **options)
    info = generate(spec, args.outdir, device=args.device, batch_size=args.batch_size, progress=not args.no_progress,
                    force=args.force)
    left = f" (diverged, left out: seeds {', '.join(map(str, info['diverged_seeds']))})" if info["diverged"] else ""
    print(f"{spec['run_id']}: {info['images']} images, seeds {args.seeds} -> {info['out']}{left}")
    return 0
