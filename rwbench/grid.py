"""Expand a configuration's named experiments into fully resolved run specs (torch-free: the Snakefile imports it).

An experiment crosses its axes (models x samplers x schedules x steps x c x T0 x TK x tasks); axes that do not
apply to a sampler are dropped before de-duplication, and sampler/task pairs that make no sense (a native
unconditional sampler on an inverse task) are skipped, so the full cross product is never forced.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math

# sampler name -> (kind, axes it uses). kind: template (rwbench.walk with a preset), native (rwbench.baselines), iadb.
SAMPLERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "simplified": ("template", ("schedule", "steps", "c", "T0", "TK", "init")),
    "ddpm": ("template", ("steps", "variance")),
    "vp-sde": ("template", ("steps",)),
    "ncsn": ("template", ("schedule", "steps", "n_steps_each", "eps")),
    "ve-sde": ("template", ("schedule", "steps")),
    "native-ddpm": ("native", ("steps", "variance")),
    "native-vp-sde": ("native", ("steps", "corrector_snr")),
    "native-ncsn": ("native", ("schedule", "steps", "n_steps_each", "eps")),
    "native-ve-sde": ("native", ("schedule", "steps", "corrector_snr")),
    "iadb": ("iadb", ("steps",)),
    "dps": ("native", ("steps", "zeta", "variance")),
}
INVERSE_SAMPLERS = ("simplified", "dps")
SCHEDULES = ("pretrained", "sigmoid", "linear", "geometric", "karras")
TASKS = {"uncond": None, "inpaint": "inpainting", "box": "box", "sr": "sr", "deblur": "blur"}
# schedule used by samplers whose levels are fixed by their own algorithm (DDPM respacing, IADB's uniform alphas)
FIXED_SCHEDULE = {"ddpm": "ddpm", "vp-sde": "ddpm", "native-ddpm": "ddpm", "native-vp-sde": "ddpm",
                  "iadb": "iadb-uniform", "dps": "ddpm"}
FIGURES = ("schedules", "ve-vs-vp", "temperature", "inverse", "nfe", "cross", "posterior", "equivalence", "none")

SAMPLER_DEFAULTS = {"c": 0.5, "T0": 0.4, "TK": 1.0, "init": "sigma", "variance": "beta", "n_steps_each": 5,
                    "eps": 2e-5, "corrector_snr": None, "zeta": None}
TASK_DEFAULTS = {"inpaint": {"p": 0.92}, "box": {"box": 8}, "sr": {"factor": 4}, "deblur": {"size": 61, "std": 3.0}}


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


def sampler_kind(sampler: str) -> str:
    """template | native | iadb for a sampler name."""
    _check_name("sampler", sampler, SAMPLERS)
    return SAMPLERS[sampler][0]


def nfe(sampler: str, steps: int, params: dict) -> int:
    """Denoiser evaluations per image: one per step (NCSN: per Langevin step; predictor-corrector: two per level)."""
    if sampler == "native-ve-sde" or sampler == "native-vp-sde":
        return steps * (2 if params.get("corrector_snr") else 1)
    return int(steps)


def _run_id(experiment: str, model: str, sampler: str, schedule: str, steps: int, params: dict, task: str, seed: int) -> str:
    parts = [experiment, model, sampler, schedule, f"K{steps}"]
    parts += [f"{k}={fmt(v)}" for k, v in sorted(params.items()) if v is not None and k not in ("steps", "schedule")]
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
    """`embedded:<kind>` -> <results_dir>/embedded/<kind> (a model the DAG trains); other values unchanged."""
    if isinstance(value, str) and value.startswith("embedded:"):
        return f"{config.get('results_dir', 'results')}/embedded/{value.split(':', 1)[1]}"
    return value


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


def expand_experiment(config: dict, name: str) -> list[dict]:
    """All run specs of one named experiment."""
    exp = dict(config["experiments"][name])
    figure = exp.get("figure", "none")
    _check_name("figure", figure, FIGURES)
    seed = int(exp.get("seed", config.get("seed", 0)))
    shard_size = int(exp.get("shard_size", config.get("shard_size", 64)))
    options = dict(exp.get("sampler_options") or {})
    specs: dict[str, dict] = {}
    axes = itertools.product(_as_list(exp["models"]), _as_list(exp["samplers"]), _as_list(exp.get("schedules", "pretrained")),
                             _as_list(exp.get("steps", 100)), _as_list(exp.get("c", SAMPLER_DEFAULTS["c"])),
                             _as_list(exp.get("T0", SAMPLER_DEFAULTS["T0"])), _as_list(exp.get("TK", SAMPLER_DEFAULTS["TK"])),
                             _as_list(exp.get("tasks", "uncond")))
    for model, sampler, schedule, steps, c, T0, TK, task in axes:
        _check_name("sampler", sampler, SAMPLERS)
        _check_name("schedule", schedule, SCHEDULES)
        _check_name("task", task, TASKS)
        if task != "uncond" and sampler not in INVERSE_SAMPLERS:
            continue
        if task == "uncond" and sampler == "dps":
            continue
        msettings = model_settings(config, model)
        kind, used = SAMPLERS[sampler]
        values = dict(SAMPLER_DEFAULTS, c=float(c), T0=float(T0), TK=float(TK), **options.get(sampler, {}))
        values["init"] = exp.get("init", values["init"])
        if sampler == "dps" and "variance" not in options.get(sampler, {}):
            values["variance"] = "beta_tilde"  # DPS's own posterior variance
        params = {k: values[k] for k in used if k not in ("schedule", "steps")}
        if sampler == "dps" and params.get("zeta") is None:
            params.pop("zeta")  # DPS's published value for the task is resolved at sampling time
        if sampler == "native-ve-sde" and params.get("corrector_snr") is None:
            params.pop("corrector_snr")
        if sampler == "native-vp-sde" and params.get("corrector_snr") is None:
            params.pop("corrector_snr")
        if task != "uncond":
            params["cap"] = exp.get("cap", "lipschitz") if sampler == "simplified" else None
            if params["cap"] is None:
                params.pop("cap")
        sched = schedule if "schedule" in used else FIXED_SCHEDULE.get(sampler, schedule)
        steps = int(steps)
        task_params = dict(TASK_DEFAULTS.get(task, {}), **((exp.get("task_params") or {}).get(task, {})))
        if task != "uncond":
            task_params["eta"] = float(exp.get("eta", 0.2))
        n_targets = int(exp.get("n_targets", 1)) if task != "uncond" else 0
        spt = int(exp.get("samples_per_target", 1)) if task != "uncond" else 1
        n_images = n_targets * spt if task != "uncond" else int(exp.get("n_images", 64))
        run_id = _run_id(name, model, sampler, sched, steps, params, task, seed)
        spec = {
            "run_id": run_id, "experiment": name, "figure": figure, "model": model,
            "registry": msettings.get("registry", model), "checkpoint": resolve_checkpoint(config, msettings.get("checkpoint")),
            "loader_options": dict(msettings.get("loader_options") or {}),
            "family": msettings["family"], "dataset": msettings["dataset"],
            "split": msettings.get("reference_split", "test"), "resolution": int(msettings["resolution"]),
            "channels": int(msettings.get("channels", 1)), "data_range": list(msettings["data_range"]),
            "sigma_min": float(msettings["sigma_min"]), "sigma_max": float(msettings["sigma_max"]),
            "sampler": sampler, "sampler_kind": kind, "schedule": sched, "steps": steps, "params": params,
            "nfe": nfe(sampler, steps, params), "task": task, "task_params": task_params, "seed": seed,
            "n_images": n_images, "n_targets": n_targets, "samples_per_target": spt, "shard_size": shard_size,
            "n_shards": max(1, math.ceil(n_images / shard_size)),
            "trajectory_points": int(exp.get("trajectory_points", 0)) if kind == "template" else 0,
            "dtype": exp.get("dtype", config.get("dtype", "float32")),
            "reference": reference_for(config, model, msettings) if task == "uncond" else
            {"kind": "ground_truth", "dataset": msettings["dataset"], "split": msettings.get("reference_split", "test")},
        }
        if spec["trajectory_points"] and exp.get("trajectory_images"):   # only when set: specs of other runs unchanged
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


def load_config(path) -> dict:
    """Read a YAML config."""
    import yaml

    with open(path) as handle:
        config = yaml.safe_load(handle)
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return config


__all__ = ["SAMPLERS", "SCHEDULES", "TASKS", "FIGURES", "fmt", "sampler_kind", "nfe", "expand", "expand_experiment",
           "spec_digest", "load_config", "model_settings"]
