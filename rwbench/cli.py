"""`rwbench` command-line entry point (the console script; `python -m rwbench` too). The command table and the
dispatcher live in rwbench.commands."""

from __future__ import annotations

import sys

from rwbench.commands import main

if __name__ == "__main__":
    sys.exit(main())
