"""Tune the random walk per NFE budget on the exact oracle and write the committed settings file that the Pareto
experiments run as ordinary cells (issue 23, item 4; `tuned:` in an experiment, rwbench.plan.tuned).

Selection (rwbench.tools.tune.select, template settings only): every (schedule, c, T_0, T_K) of the grid at every
budget, n images from seed `--seed` (the tuning seed stream, from TUNE_SEED_BASE on) and n fresh exact draws of the
mixture from the same seed; the setting of lowest energy distance per budget is chosen. The confirmatory runs use the
config's seeds (below rwbench.plan.claims.PILOT_SEED_BASE; validate_config refuses larger ones) and the oracle's
reference file, so tuning and evaluation never share images. The file records the tuning seeds, n, the grid and
every chosen setting with its score; the scores of the whole grid go to <out stem>-selection.csv beside it.

    python -m rwbench.tools.tune_walk --config config/default.yaml --model digits-oracle \\
        --nfe 10,50,200 --out config/tuned/walk-oracle.yaml            # then --merge for more budgets
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rwbench.plan import tuned as tuned_file

TUNE_SEED_BASE = 2_000_000     # tuning seeds: above the pilot seeds (1e6 + a few), never a confirmatory seed
# the tuning grid: the shipped ladder; c around the shipped 0.5 and the paper's 0.7 up to 1.5 (c > 1 steps past
# D(x)); T0 from the paper's 0.1 to 1; T_K at 1 or cooler
GRID = {"schedules": ["sigmoid"], "c": [0.25, 0.5, 0.7, 1.0, 1.5], "T0": [0.1, 0.4, 1.0], "TK": [0.8, 1.0]}


def tune_walk(config: dict, model: str, budgets, grid: dict, n: int, seed: int, noise: str = "independent",
              progress=None) -> tuple[dict, list[dict]]:
    """(file content, selection rows): the chosen walk setting per budget on `model` (an oracle of the config)."""
    from rwbench.plan.claims import PILOT_SEED_BASE
    from rwbench.plan.grid import model_settings, resolve_checkpoint
    from rwbench.models.embedded import load_oracle
    from rwbench.tools import tune

    if int(seed) < PILOT_SEED_BASE:
        raise ValueError(f"--seed {seed}: tuning seeds must not be confirmatory seeds; use {TUNE_SEED_BASE} or more")
    settings = model_settings(config, model)
    if settings["family"] != "oracle":
        raise ValueError(f"--model {model}: the walk is tuned on an exact oracle (family oracle), not "
                         f"{settings['family']!r}")
    oracle = load_oracle(settings["dataset"], resolve_checkpoint(config, settings["checkpoint"]))
    rows = tune.select(config, tune.Model(model, oracle), [int(b) for b in budgets], schedules=grid["schedules"],
                       cs=grid["c"], T0=grid["T0"], TKs=grid["TK"], solvers=[], n=int(n), seed=int(seed),
                       progress=progress, noise=noise)
    chosen = {}
    for row in rows:
        if row["chosen"]:
            chosen[int(row["budget"])] = {"schedule": row["schedule"], "c": row["c"], "T0": row["T0"], "TK": row["TK"],
                                          "steps": int(row["steps"]), "energy_distance": float(row["energy_distance"])}
    content = {"sampler": "simplified", "model": model, "metric": "energy_distance (lowest, one seed)",
               "noise": noise, "tuning_seeds": [int(seed)],
               "tunings": [{"nfe": sorted(chosen), "n": int(n), "grid": grid}],
               "settings": dict(sorted(chosen.items()))}
    return content, rows


def merge(old: dict, new: dict) -> dict:
    """`new`'s budgets added to an existing file's (same sampler, model, noise and tuning seeds; each tuning's budgets,
    n and grid listed under `tunings`; a budget tuned again is replaced)."""
    for key in ("sampler", "model", "noise", "tuning_seeds"):
        if old.get(key) != new.get(key):
            raise ValueError(f"--merge: the existing file has {key} {old.get(key)!r}, this tuning {new.get(key)!r}; "
                             "tune on the same seeds and model (or write a new file)")
    budgets = set(new["settings"])
    earlier = old.get("tunings") or [{"nfe": sorted(old["settings"]), "n": old.get("n"), "grid": old.get("grid")}]
    kept = [dict(t, nfe=[b for b in t["nfe"] if b not in budgets]) for t in earlier]
    tunings = [t for t in kept if t["nfe"]] + new["tunings"]
    return dict(new, tunings=tunings, settings=dict(sorted({**old["settings"], **new["settings"]}.items())))


def write(path, content: dict, rows: list[dict]) -> None:
    """The settings file (YAML with a header saying how it was made) and the selection table beside it."""
    import pandas as pd
    import yaml

    from rwbench.io import atomic_write

    path = Path(path)
    header = ("# Written by `python -m rwbench.tools.tune_walk` (issue 23): the random walk's setting per NFE budget, "
              "tuned on\n# the exact oracle with the tuning seeds below (never a confirmatory seed) and run by "
              "experiments with\n# `tuned:` as ordinary cells on their own seeds (rwbench.plan.tuned). Scores of the "
              f"whole grid:\n# {path.stem}-selection.csv.\n")
    with atomic_write(path, "w") as handle:
        handle.write(header + yaml.safe_dump(content, sort_keys=False, default_flow_style=None, width=100))
    table = path.with_name(f"{path.stem}-selection.csv")
    frame = pd.DataFrame(rows)
    if table.is_file():
        old = pd.read_csv(table)
        frame = pd.concat([old[~old["budget"].isin(set(frame["budget"]))], frame], ignore_index=True)
    with atomic_write(table, "w") as handle:
        frame.sort_values(["budget", "energy_distance"], kind="stable").to_csv(handle, index=False)
    tuned_file.read(path)       # what the grid will read: checked once more


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv=None) -> int:
    from rwbench.plan.config import load_and_validate

    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.tune_walk", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="config declaring the model (config/default.yaml)")
    parser.add_argument("--model", default="digits-oracle", help="an oracle model of the config")
    parser.add_argument("--nfe", required=True, help="comma list of NFE budgets")
    parser.add_argument("--c", default=",".join(map(str, GRID["c"])), help="step factors c")
    parser.add_argument("--T0", default=",".join(map(str, GRID["T0"])), help="start temperatures")
    parser.add_argument("--TK", default=",".join(map(str, GRID["TK"])), help="end temperatures")
    parser.add_argument("--schedules", default=",".join(GRID["schedules"]), help="noise ladders")
    parser.add_argument("--n", type=int, default=256, help="images per setting")
    parser.add_argument("--seed", type=int, default=TUNE_SEED_BASE, help="the tuning seed")
    parser.add_argument("--noise", default="independent", choices=["independent", "coupled"], help="step noise")
    parser.add_argument("--out", default="config/tuned/walk-oracle.yaml")
    parser.add_argument("--merge", action="store_true", help="add these budgets to an existing --out file")
    args = parser.parse_args(argv)
    grid = {"schedules": [s for s in args.schedules.split(",") if s], "c": _floats(args.c), "T0": _floats(args.T0),
            "TK": _floats(args.TK)}
    config = load_and_validate(args.config)
    content, rows = tune_walk(config, args.model, [int(v) for v in _floats(args.nfe)], grid, args.n, args.seed,
                              args.noise, progress=lambda line: print(line, flush=True))
    if args.merge and Path(args.out).is_file():
        content = merge(tuned_file.load(args.out), content)
    write(args.out, content, rows)
    for budget, s in content["settings"].items():
        print(f"NFE {budget}: {s['schedule']} c={s['c']:g} T0={s['T0']:g} TK={s['TK']:g} K={s['steps']} "
              f"energy_distance={s['energy_distance']:.5g}" if math.isfinite(s["energy_distance"]) else s)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
