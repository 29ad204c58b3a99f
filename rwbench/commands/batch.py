"""`rwbench batch`: run several rwbench commands in one process, so that start-up and imports are paid once.

The DAG runs a pack of runs (rwbench.plan.packs) as one job: `rwbench batch "sample --spec A ..." "sample --spec B ..."`.
Each command runs exactly as it would on its own (same arguments, same outputs, each written atomically); the batch
stops at the first command that fails. At the end it prints one line the DAG benchmark reads
(`python -m rwbench.tools.bench dag`):

    rwbench-timing: commands=<n> work_s=<seconds spent inside the commands> setup_s=<imports before the first>
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time

TIMING_PREFIX = "rwbench-timing:"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI options of `rwbench batch`."""
    parser.add_argument("commands", nargs="+", metavar="COMMAND",
                        help='one rwbench command with its arguments per argument, e.g. "sample --spec s.json --shard 0"')


def parse_commands(commands: list[str]) -> list[list[str]]:
    """Each argument split like a shell would (shlex); nested batches are refused."""
    from rwbench.commands import COMMANDS

    out = []
    for text in commands:
        argv = shlex.split(text)
        if not argv or argv[0] not in COMMANDS or argv[0] == "batch":
            known = ", ".join(sorted(n for n in COMMANDS if n != "batch"))
            raise ValueError(f"rwbench batch: {text!r} does not start with a command; use one of {known}")
        out.append(argv)
    return out


def run(args: argparse.Namespace) -> int:
    """Run each command in turn (importing each command's module once, before timing starts)."""
    from rwbench.commands import main as cli_main

    t_setup = time.perf_counter()
    argvs = parse_commands(args.commands)
    for name in dict.fromkeys(argv[0] for argv in argvs):
        importlib.import_module(f"rwbench.commands.{name}")
    setup = time.perf_counter() - t_setup
    work = 0.0
    for i, argv in enumerate(argvs, 1):
        print(f"[{i}/{len(argvs)}] rwbench {shlex.join(argv)}", flush=True)
        t0 = time.perf_counter()
        try:
            code = cli_main(argv)
        except SystemExit as stop:          # argparse errors and commands that exit with a message
            if stop.code not in (None, 0) and not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        work += time.perf_counter() - t0
        sys.stdout.flush()
        if code:
            print(f"rwbench batch: command {i} of {len(argvs)} failed with exit code {code}", file=sys.stderr)
            return code
    print(f"{TIMING_PREFIX} commands={len(argvs)} work_s={work:.3f} setup_s={setup:.3f}", flush=True)
    return 0
