"""`rwbench batch`: run several rwbench commands in one process, so that start-up and imports are paid once.

The DAG runs a pack of runs (rwbench.plan.packs) as one job:
`rwbench batch "sample --spec A ..." "sample --spec B ..."`.
Each command runs exactly as it would on its own (same arguments, same outputs, each written atomically). Every
command runs even when an earlier one fails; each failure is printed (the command, its exit code, its one-line error)
and the batch exits non-zero at the end with the list of failed commands.

`--cells JSON` is the DAG's mode (workflow/rules/packs.smk): one entry per command, null or `{"run": <run folder>,
"outputs": [<declared outputs, relative to the run folder>]}`. A failed command of a run is recorded in
`<run>/FAILED-<command>.json` (rwbench.plan.failures) and its outputs become empty placeholders; a command whose run
failed at an earlier stage is skipped the same way. Such failures leave the exit status 0, so Snakemake keeps the
other runs' outputs; the end of `snakemake` names them and exits non-zero (workflow/rules/failures.smk).

At the end it prints one line the DAG benchmark reads (`python -m rwbench.tools.bench dag`):

    rwbench-timing: commands=<n> work_s=<seconds spent inside the commands> setup_s=<imports before the first>
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
import time
import traceback
from pathlib import Path

TIMING_PREFIX = "rwbench-timing:"
FAILED_PREFIX = "rwbench batch: failed:"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI options of `rwbench batch`."""
    parser.add_argument("commands", nargs="+", metavar="COMMAND",
                        help='one rwbench command with its arguments per argument, e.g. "sample --spec s.json --shard 0"')
    parser.add_argument("--cells", default=None, metavar="JSON",
                        help='the DAG\'s packs: a JSON list, per command null or {"run": DIR, "outputs": [FILE in '
                             "DIR, ...]}; a failed run is recorded in DIR/FAILED-<command>.json and does not fail the "
                             "batch")
    parser.add_argument("--log", default=None, help="the job's log file, named in failure records")


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


def parse_cells(text: str | None, n: int) -> list[dict | None]:
    """The --cells list: one entry (a run folder and its declared outputs, or null) per command."""
    if text is None:
        return [None] * n
    try:
        cells = json.loads(text)
    except ValueError as err:
        raise ValueError(f"rwbench batch: --cells is not JSON ({err})") from err
    if not isinstance(cells, list) or len(cells) != n or not all(
            c is None or (isinstance(c, dict) and isinstance(c.get("run"), str)) for c in cells):
        raise ValueError(f"rwbench batch: --cells needs a JSON list of {n} entries, each null or "
                         '{"run": DIR, "outputs": [...]}')
    return cells


class _LastLine:
    """A stderr that passes everything through and keeps the last non-empty line (a command's one-line error)."""

    def __init__(self, stream):
        self.stream, self.last = stream, ""

    def write(self, text):
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        if lines:
            self.last = lines[-1]
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def run_one(argv: list[str]) -> tuple[int, str]:
    """Run one command in this process: (exit code, its last line on stderr or the exception's first line)."""
    from rwbench.commands import main as cli_main
    from rwbench.errors import first_line

    stderr = sys.stderr
    sys.stderr = tee = _LastLine(stderr)
    try:
        code = cli_main(argv)
    except SystemExit as stop:          # argparse errors and commands that exit with a message
        if stop.code not in (None, 0) and not isinstance(stop.code, int):
            print(stop.code, file=sys.stderr)
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except Exception as err:            # a crash of one command never stops the others: its traceback goes to the log
        traceback.print_exc()
        code, tee.last = 1, f"{type(err).__name__}: {first_line(err)}"
    finally:
        sys.stderr = stderr
        sys.stdout.flush()
    return int(code or 0), tee.last


def run(args: argparse.Namespace) -> int:
    """Run each command in turn (importing each command's module once, before timing starts); a failure is recorded
    and the next command runs."""
    from rwbench.plan import failures

    t_setup = time.perf_counter()
    argvs = parse_commands(args.commands)
    cells = parse_cells(getattr(args, "cells", None), len(argvs))
    log = getattr(args, "log", None)
    for name in dict.fromkeys(argv[0] for argv in argvs):
        importlib.import_module(f"rwbench.commands.{name}")
    for cell, argv in zip(cells, argvs):        # this job's stages run again: their earlier failures are forgotten
        if cell:
            failures.clear_marker(cell["run"], argv[0])
    setup = time.perf_counter() - t_setup
    work, failed, first_code = 0.0, [], 0
    for i, (cell, argv) in enumerate(zip(cells, argvs), 1):
        line = shlex.join(argv)
        print(f"[{i}/{len(argvs)}] rwbench {line}", flush=True)
        upstream = failures.failed_upstream(cell["run"], argv[0]) if cell else None
        if upstream:
            print(f"rwbench batch: skipped: {upstream['stage']} of {upstream['run_id']} failed", file=sys.stderr)
            for name in cell.get("outputs") or []:
                failures.write_placeholder(Path(cell["run"]) / name)
            continue
        t0 = time.perf_counter()
        code, error = run_one(argv)
        work += time.perf_counter() - t0
        if not code:
            continue
        print(f"rwbench batch: command {i} of {len(argvs)} failed with exit code {code}: {error}", file=sys.stderr)
        failed.append((i, code, argv, error, cell))
        if cell:
            failures.record_failure(cell["run"], argv[0], {"command": f"rwbench {line}", "exit_code": code,
                                                          "error": error}, log)
            for name in cell.get("outputs") or []:
                failures.write_placeholder(Path(cell["run"]) / name)
        elif not first_code:
            first_code = code
    for i, code, argv, error, cell in failed:
        where = f" (recorded in {failures.marker_path(cell['run'], argv[0])})" if cell else ""
        print(f"{FAILED_PREFIX} [{i}/{len(argvs)}] exit code {code}: rwbench {shlex.join(argv)}: {error}{where}",
              file=sys.stderr)
    print(f"{TIMING_PREFIX} commands={len(argvs)} work_s={work:.3f} setup_s={setup:.3f}", flush=True)
    return first_code
