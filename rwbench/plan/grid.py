"""Expand a configuration's named experiments into fully resolved run specs (torch-free: the Snakefile imports it).

An experiment crosses its axes (models x samplers x the list axes of rwbench.plan.samplers.AXES x tasks x eta); per
sampler only the axes its row in the sampler table uses are crossed, and tasks it does not solve (a native
unconditional sampler on an inverse task) are skipped. The measurement noise `eta` (a number or a list) is crossed
with the inverse tasks only. `nfe: [...]` instead of `steps` gives each sampler the most steps within the budget.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math

from rwbench.plan import figures as _figure_table
from rwbench.plan import samplers as _table
from rwbench.plan import tuned as _tuned
from rwbench.plan.config import default, normal_path
from rwbench.plan.samplers import AXES, LIST_AXES, SAMPLERS, SCHEDULES, resolve_schedule
from rwbench.tasks import TASK_DEFAULTS, TASKS

FIGURES = (*_figure_table.NAMES, _figure_table.NONE)   # an experiment's `figure`: a row of rwbench.plan.figures, or none



def fmt(value) -> str:
    """Canonical text of a number for run names: integers plain, floats by shortest round-trip repr, no exponent."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"fmt: non-finite value {value!r} cannot name a run")
        text = repr(value)
        if "e" in text:
            text = f"{value:.12f}".rstrip("0")
        return text
    return str(value)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_name(kind: str, name: str, known) -> None:
    if name not in known:
        raise ValueError(f"{kind} {name!r} is not known; choose one of {', '.join(sorted(known))}")


def _run_id(experiment: str, model: str, sampler: str, schedule: str, steps: int, params: dict, task: str, seed: int,
            eta: float | None = None) -> str:
    """experiment__model__sampler__schedule__K<steps>__<param>=<v>...[__eta=<eta>]__task__s<seed>: every param except
    an axis at a default its run ids leave out (step_scale 1), and the measurement noise of inverse runs."""
    parts = [experiment, model, sampler, schedule, f"K{steps}"]
    parts += [f"{k}={fmt(v)}" for k, v in sorted(params.items()) if v is not None and k not in ("steps", "schedule")
              and (k not in AXES or AXES[k].in_run_id(v))]
    if eta is not None:
        parts.append(f"eta={fmt(eta)}")
    parts += [task, f"s{seed}"]
    return "__".join(str(p).replace("/", "-").replace(" ", "") for p in parts)


def model_settings(config: dict, model: str) -> dict:
    """The config's `models.<model>` entry, checked."""
    models = config.get("models") or {}
    if model not in models:
        raise ValueError(f"model {model!r} is used by an experiment but not declared under `models:` "
                         f"(declared: {', '.join(sorted(models)) or 'none'})")
    return models[model]


def resolve_checkpoint(config: dict, value):
    """`embedded:<kind>` -> <results_dir>/embedded/<kind> (a model the DAG trains); a local path in one spelling
    (plan.config.normal_path: `..` and links resolved, so the same file reached another way is the same run); other
    values (None, URLs) unchanged."""
    if isinstance(value, str) and value.startswith("embedded:"):
        return f"{config.get('results_dir', 'results')}/embedded/{value.split(':', 1)[1]}"
    if isinstance(value, str) and value and "://" not in value:
        return normal_path(value)
    return value


def start_of(msettings: dict) -> str:
    """A model's start of unconditional runs: its `start`, where auto (the schema's default) is exact for exact oracles
    (family oracle) and noise otherwise."""
    start = msettings.get("start", default("models.*.start"))
    if start == "auto":
        return "exact" if msettings["family"] == "oracle" else "noise"
    if start == "exact" and msettings["family"] != "oracle":
        raise ValueError(f"start: exact needs an exact oracle (family oracle), not family {msettings['family']!r}; "
                         "set the model's start to noise or auto")
    return start


def reference_for(config: dict, model: str, msettings: dict) -> dict:
    """What unconditional samples of `model` are scored against (see docs/run-layout.md)."""
    ref = msettings.get("reference")
    if ref is None:
        return {"kind": "dataset", "dataset": msettings["dataset"], "split": msettings.get("reference_split", "test"),
                "resolution": int(msettings["resolution"])}
    ref = dict(ref)
    if ref.get("kind") == "file":
        ref["path"] = str(resolve_checkpoint(config, ref["path"]))
    return ref


def _exp(exp: dict, key: str):
    """An experiment's value of `key`, else the schema's default (the one home of defaults; rwbench.plan.config)."""
    return exp[key] if key in exp else default(f"experiments.*.{key}")


def _top(config: dict, key: str):
    """A config's top-level value of `key`, else the schema's default."""
    return config[key] if key in config else default(key)


def _axis_values(exp: dict, row, axis: str) -> list:
    """Values of a list axis a sampler uses: the experiment's list, else the sampler's default; [None] if unused."""
    if axis not in row.axes:
        return [None]
    key = AXES[axis].key
    return _as_list(exp[key]) if key in exp else [row.default(axis)]


def etas(exp: dict) -> list[float]:
    """The measurement noise levels of an experiment's inverse runs: `eta` (a number or a list; the schema's default)."""
    return [float(v) for v in _as_list(_exp(exp, "eta"))]


def _check_experiment(name: str, exp: dict) -> None:
    """Names on the experiment's axes are known; steps and nfe are not both given; eta and step_scale are positive."""
    if not _as_list(exp["samplers"]):
        raise ValueError(f"experiment {name!r}: samplers is empty; name at least one sampler")
    for sampler in _as_list(exp["samplers"]):
        _check_name("sampler", sampler, SAMPLERS)
    for schedule in _as_list(exp.get("schedules", AXES["schedule"].default)):
        _check_name("schedule", schedule, SCHEDULES)
    for task in _as_list(_exp(exp, "tasks")):
        _check_name("task", task, TASKS)
    if "nfe" in exp and "steps" in exp:
        raise ValueError(f"experiment {name!r}: give `steps` or `nfe` (a budget per sampler), not both")
    scales = [float(v) for v in _as_list(exp.get("step_scale", []))]
    for key, values in (("eta", etas(exp)), ("step_scale", scales)):
        if any(not v > 0 for v in values) or len(set(values)) != len(values):
            raise ValueError(f"experiment {name!r}: {key} {values} needs distinct positive values")
    for sampler, opts in (exp.get("sampler_options") or {}).items():
        _check_name("sampler", sampler, SAMPLERS)
        row = SAMPLERS[sampler]
        unknown = sorted(set(opts) - set(row.axes + row.inverse_axes))
        if unknown:
            raise ValueError(f"experiment {name!r}: sampler_options.{sampler} sets {', '.join(unknown)}, which "
                             f"{sampler} does not use (it uses {', '.join(row.axes + row.inverse_axes)})")
        if "step_scale" in opts and not float(opts["step_scale"]) > 0:
            raise ValueError(f"experiment {name!r}: sampler_options.{sampler}.step_scale {opts['step_scale']} needs a "
                             "positive factor")


def expand_experiment(config: dict, name: str) -> list[dict]:
    """All run specs of one named experiment: per model and sampler, the cross product of the list axes the sampler
    uses (rwbench.plan.samplers.AXES; unused axes collapse) and the tasks it solves."""
    exp = dict(config["experiments"][name])
    figure = _exp(exp, "figure")
    _check_name("figure", figure, FIGURES)
    _check_experiment(name, exp)
    # replicate seeds: the innermost factor of the product (one run per seed and cell, run ids end in s<seed>); cells of
    # one experiment share per-image seeds (seed, task, i), so their differences are paired
    seeds = [int(s) for s in _as_list(exp.get("seeds", exp.get("seed", _top(config, "seed"))))]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"experiment {name!r}: seeds {seeds} repeat a value; list each replicate seed once")
    if "tuned" in exp:          # per NFE budget the tuned file's setting (rwbench.plan.tuned): one expansion each
        out = []
        for sub in _tuned.budget_experiments(name, exp, seeds):
            out += expand_experiment(dict(config, experiments={**config["experiments"], name: sub}), name)
        return out
    shard_size = int(exp.get("shard_size", _top(config, "shard_size")))
    options = dict(exp.get("sampler_options") or {})
    budgets = "nfe" in exp
    specs: dict[str, dict] = {}
    for model, sampler in itertools.product(_as_list(exp["models"]), _as_list(exp["samplers"])):
        msettings = model_settings(config, model)
        row, opts = SAMPLERS[sampler], options.get(sampler, {})
        lists = [_axis_values(dict(exp, steps=exp["nfe"]) if budgets else exp, row, axis) for axis in LIST_AXES]
        # each inverse task at every eta (an axis of inverse runs only); unconditional runs have no eta
        cases = [(task, eta) for task in _as_list(_exp(exp, "tasks"))
                 for eta in (etas(exp) if task != "uncond" else [None])]
        for *values, (task, eta), seed in itertools.product(*lists, cases, seeds):
            inverse = task != "uncond"
            if (inverse and not row.inverse) or (not inverse and not row.uncond):
                continue
            axis = dict(zip(LIST_AXES, values))
            axis.update({k: v for k, v in opts.items() if k in axis})
            params = _table.sampler_params(row, inverse, exp, opts)
            params.update({k: float(v) for k, v in axis.items() if k not in ("schedule", "steps") and v is not None})
            params = {k: v for k, v in params.items() if v is not None}
            sched = axis["schedule"] if "schedule" in row.axes else row.fixed_schedule
            if "schedule" in row.axes:
                resolve_schedule(sched, msettings["family"])
            steps = row.steps_for_nfe(int(axis["steps"]), params) if budgets else int(axis["steps"])
            if row.steps_problem(steps, params):   # the sampler table's rule (validate_config names it first)
                raise ValueError(f"experiment {name!r}: steps: {row.steps_problem(steps, params)}")
            task_params = dict(TASK_DEFAULTS.get(task, {}), **((exp.get("task_params") or {}).get(task, {})))
            if inverse:
                task_params["eta"] = eta
            n_targets = int(_exp(exp, "n_targets")) if inverse else 0
            spt = int(_exp(exp, "samples_per_target")) if inverse else 1
            n_images = n_targets * spt if inverse else int(_exp(exp, "n_images"))
            run_id = _run_id(name, model, sampler, sched, steps, params, task, seed, eta)
            spec = {
                "run_id": run_id, "experiment": name, "figure": figure, "model": model,
                "registry": msettings.get("registry", model),
                "checkpoint": resolve_checkpoint(config, msettings.get("checkpoint")),
                "loader_options": dict(msettings.get("loader_options") or {}),
                "family": msettings["family"], "dataset": msettings["dataset"],
                "split": msettings.get("reference_split", "test"), "resolution": int(msettings["resolution"]),
                "channels": int(msettings.get("channels", 1)), "data_range": list(msettings["data_range"]),
                "sigma_min": float(msettings["sigma_min"]), "sigma_max": float(msettings["sigma_max"]),
                "sampler": sampler, "sampler_kind": row.kind, "schedule": sched, "steps": steps, "params": params,
                "nfe": row.count_nfe(steps, params), "task": task, "task_params": task_params, "seed": seed,
                "n_images": n_images, "n_targets": n_targets, "samples_per_target": spt, "shard_size": shard_size,
                "n_shards": max(1, math.ceil(n_images / shard_size)),
                "trajectory_points": int(_exp(exp, "trajectory_points")) if row.kind == "template" else 0,
                "dtype": exp.get("dtype", _top(config, "dtype")),
                "reference": reference_for(config, model, msettings) if not inverse else
                {"kind": "ground_truth", "dataset": msettings["dataset"], "split": msettings.get("reference_split", "test")},
            }
            spec["start"] = start_of(msettings)
            spec["noise"] = _exp(exp, "noise")
            if spec["trajectory_points"] and exp.get("trajectory_images"):   # only when set: other specs unchanged
                spec["trajectory_images"] = int(exp["trajectory_images"])
            if run_id in specs and specs[run_id] != spec:
                raise ValueError(f"experiment {name!r}: two different runs would share the name {run_id!r}")
            specs[run_id] = spec
    return list(specs.values())


def expand(config: dict, experiments=None) -> dict[str, dict]:
    """run_id -> spec for every (or the listed) experiment of a config; run ids must be unique across experiments."""
    out: dict[str, dict] = {}
    names = experiments if experiments is not None else list((config.get("experiments") or {}))
    for name in names:
        if name not in (config.get("experiments") or {}):
            raise ValueError(f"experiment {name!r} is not in the config (have: {', '.join(config.get('experiments') or {})})")
        for spec in expand_experiment(config, name):
            if spec["run_id"] in out:
                raise ValueError(f"run {spec['run_id']!r} appears twice")
            out[spec["run_id"]] = spec
    return out


def spec_digest(spec: dict) -> str:
    """SHA-256 of the canonical JSON of a spec (a Snakemake params value: a changed spec re-runs its jobs)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


__all__ = ["SAMPLERS", "SCHEDULES", "FIGURES", "fmt", "etas", "expand", "expand_experiment", "start_of",
           "spec_digest", "model_settings"]
