"""Comparisons between runs: paired differences, intervals and decisions (docs/statistics.md)."""
