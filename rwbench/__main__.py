"""`python -m rwbench <command>`: the same entry point as the `rwbench` console script."""

import sys

from rwbench.cli import main

sys.exit(main())
