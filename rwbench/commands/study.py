"""`rwbench study`: the oracle studies a config asks for (`studies:`), each a tool of rwbench.tools run as one DAG job:
walk-variance (the walk's variance ratio against K, closed form and measured; docs/walk-variance.md) and coupling (how
much coupled step noise tightens paired step-count and sampler comparisons, measured and in closed form;
reports/tables/coupling.csv, docs/coupling.md)."""

from __future__ import annotations

import argparse

STUDIES = {"walk-variance": "rwbench.tools.walk_variance", "coupling": "rwbench.tools.coupling"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench study`: the study's name, then that tool's own options (see its --help)."""
    parser.add_argument("study", choices=list(STUDIES), help="which study")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the study tool's options")


def run(args: argparse.Namespace) -> int:
    """Run the study's tool with its options."""
    import importlib

    return int(importlib.import_module(STUDIES[args.study]).main(args.options) or 0)
