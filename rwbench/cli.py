"""`rwbench` command-line entry point: dispatches to one module per command."""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("rwbench.commands.prepare", "prepare datasets and the Gaussian-mixture oracle"),
    "train": ("rwbench.train", "train an embedded model (VP, VE, IADB) or the digits classifier"),
    "plan": ("rwbench.commands.plan", "resolve a config's experiments into run specs (spec.json)"),
    "reference": ("rwbench.metrics.reference", "build cached reference statistics"),
    "schedules": ("rwbench.commands.schedules", "tabulate the noise ladders, steps and temperatures of schedules"),
    "equivalence": ("rwbench.commands.equivalence", "template-vs-native deviation per step on the exact oracle"),
    "scalespace": ("rwbench.scalespace.command", "scale-space diagnostics of recorded sampler trajectories"),
    "sample": ("rwbench.commands.sample", "generate one shard of samples for one run"),
    "evaluate": ("rwbench.metrics.evaluate", "compute the metrics of one run"),
    "aggregate": ("rwbench.metrics.aggregate", "collect per-run metrics into one table"),
    "figures": ("rwbench.figures.cli", "build figures and tables from aggregated results"),
    "info": ("rwbench.commands.info", "environment, devices, checkpoints and metric weights"),
    "batch": ("rwbench.commands.batch", "run several of these commands in one process (the DAG's packed jobs)"),
}


def build_parser() -> argparse.ArgumentParser:
    """Top-level parser; a command's options are added only when that command is chosen."""
    parser = argparse.ArgumentParser(prog="rwbench", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to do")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, import the chosen command's module and run it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = False
    while argv and argv[0] == "--debug":   # `rwbench --debug <command>`: full tracebacks (also RWBENCH_DEBUG=1)
        debug, argv = True, argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        print("\ncommands:")
        for name, (_, text) in sorted(COMMANDS.items()):
            print(f"  {name:10s} {text}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        build_parser().error(f"unknown command {name!r}; choose one of {', '.join(sorted(COMMANDS))}")
    module_name, text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"rwbench {name}", description=text,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    from rwbench.errors import USER_ERRORS, debug_enabled

    try:
        return int(module.run(args) or 0)
    except USER_ERRORS as err:   # bad input: one line naming the file and what to do
        if debug or debug_enabled():
            raise
        print(f"rwbench {name}: {err} (traceback: rwbench --debug {name} ... or RWBENCH_DEBUG=1)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
