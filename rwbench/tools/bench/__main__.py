"""Dispatch `python -m rwbench.tools.bench <name> [args]` to rwbench/tools/bench/<name>.py:main(argv)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import rwbench.tools.bench as bench_pkg


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmark module's main(argv)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names = sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_"))
    if not argv or argv[0] not in names:
        print(f"usage: python -m rwbench.tools.bench {{{','.join(names)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"rwbench.tools.bench.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
