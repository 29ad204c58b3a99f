"""Benchmark scripts: `python -m rwbench.tools.bench <name>` prints figures (never asserted by tests)."""
