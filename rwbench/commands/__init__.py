"""The CLI's commands: one module per command (rwbench/commands/<name>.py, `add_arguments(parser)` and `run(args)`), the
command table and the dispatcher that `rwbench` (rwbench.cli), `python -m rwbench` and `rwbench batch` share.

Building a parser imports no torch: command modules import their library code inside `run`, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> one-line help, in pipeline order (what the DAG runs first comes first).
# Each rwbench.commands.<name> module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, str] = {
    "prepare": "prepare datasets and the Gaussian-mixture oracles",
    "train": "train an embedded model (VP, VE, IADB) or the digits classifier",
    "plan": "resolve a config's experiments into run specs (spec.json)",
    "sample": "generate one shard of samples for one run",
    "reference": "build cached reference statistics",
    "evaluate": "compute the metrics of one run",
    "aggregate": "collect per-run metrics into one table",
    "floors": "real-data and exact-sampler floors of every (reference, n) of the runs",
    "compare": "paired differences, intervals and decisions for the comparisons the figures make",
    "claims": "the claims ledger: every declared claim decided with its designed interval",
    "fidelity": "posterior fidelity of the inverse runs: calibration curves, MMSE gap, score-KSD and its validation",
    "pareto": "the Pareto front on the exact oracle: energy distance and variance ratio against NFE, exact-draw band",
    "study": "an oracle study: the walk's variance against K, or what coupled step noise buys",
    "schedules": "tabulate the noise ladders, steps and temperatures of schedules",
    "equivalence": "template-vs-native deviation per step on the exact oracle",
    "scalespace": "scale-space diagnostics of recorded sampler trajectories",
    "figures": "build figures and tables from aggregated results",
    "generate": "sample one image per seed (one model preset, one sampler) into a folder, without a config",
    "export": "write a run's samples as PNG files and one .npz (for other FID tools)",
    "score": "FID/KID/precision-recall of a folder of images against a reference set",
    "batch": "run several of these commands in one process (the DAG's packed jobs)",
    "info": "environment, devices, checkpoints and metric weights",
}

# examples shown at the end of a command's --help
EXAMPLES: dict[str, str] = {
    "prepare": "rwbench prepare --config config/embedded-smoke.yaml --out results/embedded/oracle",
    "train": "rwbench train --config config/embedded-smoke.yaml --model vp --out results/embedded/vp",
    "plan": "rwbench plan --config config/smoke.yaml --list",
    "sample": "rwbench sample --spec results/runs/<run_id>/spec.json --shard 0",
    "reference": "rwbench reference --dataset digits --split test --resolution 16",
    "evaluate": "rwbench evaluate --run results/runs/<run_id>",
    "aggregate": "rwbench aggregate --runs-dir results/runs --out results/metrics.csv",
    "floors": "rwbench floors --runs-dir results/runs --out results/floors.csv",
    "compare": "rwbench compare --config config/default.yaml --runs-dir results/runs --out reports",
    "claims": "rwbench claims --config config/default.yaml --runs-dir results/runs --out reports",
    "fidelity": "rwbench fidelity --runs results/runs --out reports",
    "pareto": "rwbench pareto --config config/default.yaml --out reports",
    "study": "rwbench study walk-variance --oracle-dir results/embedded/oracle --out-csv walk_variance.csv --out-fig walk-variance.png",
    "schedules": "rwbench schedules --schedules linear,karras --steps 50,100 --out schedules.csv",
    "equivalence": "rwbench equivalence --steps 200 --out equivalence.csv",
    "scalespace": "rwbench scalespace --run results/runs/<run_id>\n  rwbench scalespace --figure --runs-dir results/runs",
    "figures": "rwbench figures --only temperature,runs",
    "generate": "rwbench generate --model digits-oracle --sampler simplified --seeds 0-15 --outdir samples/",
    "export": "rwbench export results/runs/<run_id> --out exported/<run_id>",
    "score": "rwbench score samples/ --reference dataset:digits/test/16 [--json]",
    "batch": "rwbench batch \"sample --spec a/spec.json --shard 0\" \"sample --spec b/spec.json --shard 0\"",
    "info": "rwbench info --results-dir results",
}


def version() -> str:
    """The package version (rwbench.__version__), read without importing torch."""
    import rwbench

    return rwbench.__version__


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends `(default: X)` once: not when the help already names its default, nor for None, False or flags."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings
                or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    """Top-level parser; a command's options are added only when that command is chosen."""
    lines = "\n".join(f"  {name:12s} {text}" for name, text in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="rwbench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Benchmark of score-based diffusion sampling as random walks with Tweedie (Park et al. 2025).",
        epilog=f"commands, in pipeline order:\n{lines}\n\n`rwbench <command> --help` shows a command's options. "
               f"The whole grid: `snakemake --cores 2` (see README.md).")
    parser.add_argument("--version", action="version", version=f"rwbench {version()}")
    parser.add_argument("--debug", action="store_true",
                        help="before the command: full tracebacks for bad input (also RWBENCH_DEBUG=1)")
    parser.add_argument("command", choices=list(COMMANDS), metavar="command", help="what to do (see below)")
    return parser


def command_parser(name: str):
    """(parser of `rwbench <name>`, its command module); imports the module, which must not import torch."""
    module = importlib.import_module(f"rwbench.commands.{name}")
    parser = argparse.ArgumentParser(prog=f"rwbench {name}", description=COMMANDS[name], formatter_class=HelpFormatter,
                                     epilog=f"example:\n  {EXAMPLES[name]}" if name in EXAMPLES else None)
    module.add_arguments(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, import the chosen command's module and run it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = False
    while argv and argv[0] == "--debug":   # `rwbench --debug <command>`: full tracebacks (also RWBENCH_DEBUG=1)
        debug, argv = True, argv[1:]
    top = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    if argv[0] == "--version":
        top.parse_args(argv)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        top.error(f"unknown command {name!r}; choose one of {', '.join(COMMANDS)}")
    parser, module = command_parser(name)
    args = parser.parse_args(rest)
    from rwbench.errors import USER_ERRORS, debug_enabled

    try:
        return int(module.run(args) or 0)
    except USER_ERRORS as err:   # bad input: one line naming the file and what to do
        if debug or debug_enabled():
            raise
        print(f"rwbench {name}: {err} (traceback: rwbench --debug {name} ... or RWBENCH_DEBUG=1)", file=sys.stderr)
        return 2

