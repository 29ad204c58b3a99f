"""Benchmark scripts: `python -m rwbench.bench <name>` prints figures (never asserted by tests)."""
