"""Tuned sampler settings per NFE budget (a committed file, e.g. config/tuned/walk-oracle.yaml, written by
`python -m rwbench.tools.tune_walk`): an experiment with `tuned: <file>` and `nfe: [...]` runs, at each budget, the
file's setting of its sampler (schedule, c, T0, TK) as an ordinary cell on the experiment's own seeds
(rwbench.plan.grid). Torch-free: the Snakefile imports it.

The file: sampler, model, noise, tuning_seeds (the seeds the settings were chosen on), tunings (each tuning's budgets,
images n and grid) and settings {budget: {schedule, c, T0, TK, steps, energy_distance}}.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]     # the checkout: relative paths are tried from here too
AXES = {"schedule": "schedules", "c": "c", "T0": "T0", "TK": "TK"}   # setting key -> the experiment's list key
REQUIRED = ("sampler", "model", "tuning_seeds", "settings")


def locate(path) -> Path:
    """The file as given, else relative to the checkout (a config names it from the repository root)."""
    path = Path(path)
    if not path.is_file() and not path.is_absolute() and (ROOT / path).is_file():
        return ROOT / path
    return path


def load(path) -> dict:
    """The YAML mapping of a tuned-settings file (not checked)."""
    from rwbench.plan.config import read_yaml

    found = locate(path)
    if not found.is_file():
        raise FileNotFoundError(f"tuned: {path} not found; write it with `python -m rwbench.tools.tune_walk` or fix "
                                "the experiment's `tuned:` path")
    content = read_yaml(found)
    if not isinstance(content, dict):
        raise ValueError(f"tuned: {path} is not a YAML mapping")
    return content


def read(path) -> dict:
    """The checked file: the keys of REQUIRED present, tuning seeds a list of integers, and every budget's setting a
    schedule with numbers c, T0, TK; settings keyed by int budgets."""
    content = load(path)
    missing = [k for k in REQUIRED if k not in content]
    if missing:
        raise ValueError(f"tuned: {path} lacks {', '.join(missing)}; rewrite it with python -m rwbench.tools.tune_walk")
    seeds = content["tuning_seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"tuned: {path}: tuning_seeds must list the integer seeds the settings were chosen on")
    settings = {}
    for budget, setting in (content["settings"] or {}).items():
        if not isinstance(setting, dict) or any(k not in setting for k in AXES):
            raise ValueError(f"tuned: {path}: settings.{budget} needs {', '.join(AXES)}")
        settings[int(budget)] = dict(setting, schedule=str(setting["schedule"]),
                                     **{k: float(setting[k]) for k in ("c", "T0", "TK")})
    return dict(content, settings=settings)


def budget_experiments(name: str, exp: dict, seeds) -> list[dict]:
    """One experiment per NFE budget of an experiment with `tuned:`: its list axes schedules, c, T0 and TK replaced by
    the file's setting at that budget (`tuned` removed; the schema's defaults of c, T0, TK are filled in before, so
    they cannot be told from given values and are replaced alike). The file must tune the experiment's one sampler, have a setting for every budget, and
    its tuning seeds must not be the experiment's `seeds` (the replicate seeds it runs)."""
    content = read(exp["tuned"])
    samplers = exp["samplers"] if isinstance(exp["samplers"], list) else [exp["samplers"]]
    if samplers != [content["sampler"]]:
        raise ValueError(f"experiment {name!r}: tuned: {exp['tuned']} tunes {content['sampler']!r}; list only that "
                         f"sampler (samplers: [{content['sampler']}])")
    if "nfe" not in exp:
        raise ValueError(f"experiment {name!r}: tuned settings are per NFE budget; give `nfe:` instead of `steps:`")
    shared = sorted({int(s) for s in seeds} & set(content["tuning_seeds"]))
    if shared:
        raise ValueError(f"experiment {name!r}: seeds {shared} were used to tune {exp['tuned']}; evaluate on others")
    out = []
    budgets = exp["nfe"] if isinstance(exp["nfe"], list) else [exp["nfe"]]
    for budget in budgets:
        if int(budget) not in content["settings"]:
            raise ValueError(f"experiment {name!r}: tuned: {exp['tuned']} has no setting for NFE {budget} (it has "
                             f"{', '.join(map(str, content['settings']))}); tune that budget (--merge)")
        setting = content["settings"][int(budget)]
        sub = {k: v for k, v in exp.items() if k != "tuned"}
        sub["nfe"] = [int(budget)]
        sub.update({key: [setting[axis]] for axis, key in AXES.items()})
        out.append(sub)
    return out


__all__ = ["AXES", "locate", "load", "read", "budget_experiments"]
