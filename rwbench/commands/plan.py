"""`rwbench plan`: resolve a config's experiments into run specs; write one run's spec.json or list all run ids."""

from __future__ import annotations

import argparse

from rwbench.plan.config import load_and_validate
from rwbench.plan.grid import expand
from rwbench.io import write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI options of `rwbench plan`."""
    parser.add_argument("--config", required=True, help="YAML config with `models:` and `experiments:`")
    parser.add_argument("--run", default=None, help="run id whose spec.json to write (see --list)")
    parser.add_argument("--out", default=None, help="where to write the spec (default: print it)")
    parser.add_argument("--list", action="store_true", help="print every run id, one per line")
    parser.add_argument("--results-dir", default=None, help="override the config's results_dir")
    parser.add_argument("--experiments", default=None, help="comma list restricting the experiments")


_EXPANDED: dict = {}   # (config file contents, results_dir, experiments) -> runs: one expansion per `rwbench batch` process


def expanded(path: str, results_dir: str | None, experiments: str | None) -> dict:
    """The validated config's run specs, expanded once per process for the same file contents and options (a packed
    plan job writes the spec.json of many runs of one config)."""
    import hashlib

    with open(path, "rb") as handle:
        key = (hashlib.sha256(handle.read()).hexdigest(), results_dir, experiments)
    if key not in _EXPANDED:
        config = load_and_validate(path)
        if results_dir:
            config["results_dir"] = results_dir
        _EXPANDED[key] = expand(config, experiments.split(",") if experiments else None)
    return _EXPANDED[key]


def run(args: argparse.Namespace) -> int:
    """Expand the grid; print run ids or write the requested run's spec atomically."""
    import json

    runs = expanded(args.config, args.results_dir, args.experiments)
    if args.list:
        for run_id in runs:
            print(run_id)
        return 0
    if args.run is None:
        raise SystemExit("rwbench plan: give --run RUN_ID (or --list to see them)")
    if args.run not in runs:
        raise SystemExit(f"rwbench plan: run {args.run!r} is not in {args.config}; `rwbench plan --config "
                         f"{args.config} --list` shows the {len(runs)} runs")
    if args.out:
        write_json(args.out, runs[args.run])
    else:
        print(json.dumps(runs[args.run], indent=2, sort_keys=True))
    return 0
