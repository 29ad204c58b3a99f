"""`rwbench` command-line entry point (the console script; `python -m rwbench` too): the dispatcher of rwbench.commands."""

from __future__ import annotations

import sys

from rwbench.commands import COMMANDS, EXAMPLES, build_parser, command_parser, main

__all__ = ["main", "COMMANDS", "EXAMPLES", "build_parser", "command_parser"]

if __name__ == "__main__":
    sys.exit(main())
