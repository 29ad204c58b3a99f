"""Read and validate an rwbench config against workflow/schemas/config.schema.yaml (JSON Schema 2020-12, defaults
filled in), and the schema's defaults: the one home of every option's default.

One function for every entry point: the Snakefile and `rwbench plan` both call validate_config, so a config the DAG
refuses is refused by hand too, and both see the same defaults. CLI parsers and library signatures read their defaults
through `default` / `defaults`. Torch-free (the Snakefile imports it).
"""

from __future__ import annotations

import copy
import difflib
import functools
from pathlib import Path

# the checkout's schema; an installed wheel (no checkout) reads the copy shipped as package data (rwbench/plan/
# config.schema.yaml, a link to the checkout's file)
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
if not SCHEMA_PATH.is_file():
    SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


def read_schema(path=SCHEMA_PATH) -> dict:
    """The config schema (YAML) read from `path`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config schema not found; reinstall rwbench (pip install -e . from its "
                                f"checkout) so that the schema ships with the package")
    return yaml.safe_load(path.read_text())


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The parsed schema of this checkout (read once per process)."""
    return read_schema()


def node(path: str) -> dict:
    """The schema of one option or section, e.g. node("metrics.extractor")["enum"]; `experiments.*` is an experiment."""
    here = load_schema()
    for key in [k for k in path.split(".") if k]:
        here = here["additionalProperties"] if key == "*" else here["properties"][key]
    return here


def default(path: str):
    """Default of one option, e.g. default("metrics.n_boot") -> 2000, default("experiments.*.c") -> [0.5]."""
    option = node(path)
    if "default" not in option:
        raise KeyError(f"{path}: the config schema gives no default")
    return option["default"]


def defaults(path: str = "") -> dict:
    """{option: default} of every option of a section that has one, e.g. defaults("metrics")."""
    return {k: v["default"] for k, v in (node(path).get("properties") or {}).items() if "default" in v}


def read_yaml(path):
    """The one reader of rwbench's YAML files (configs, embedded configs, tuned settings, claims designs): plain YAML
    (yaml.safe_load: a tag such as !!python/object constructs nothing); a file that is not valid plain YAML is one
    ValueError line naming the file, the place and the fix."""
    import yaml

    with open(path) as handle:
        try:
            return yaml.safe_load(handle)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = " ".join(str(getattr(err, "problem", None) or err).split())
            raise ValueError(f"{path}: not valid plain YAML{where} ({problem}); fix the file (rwbench reads plain "
                             f"YAML only: no tags such as !!python/...)") from None


def load_config(path) -> dict:
    """Read a YAML config file (not yet validated: see load_and_validate)."""
    config = read_yaml(path)
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return config


def refuse_templates(paths) -> None:
    """Snakemake runs a config file that sets `__use_yte__: true` through YTE, which evaluates its Python expressions
    while loading it (before the Snakefile, hence before validate_config, sees the result, with that key removed).
    rwbench configs are plain YAML: such a file is refused in one line, which also says that its code has run."""
    for path in paths:
        content = read_yaml(path)
        if isinstance(content, dict) and "__use_yte__" in content:
            raise ValueError(f"{path}: __use_yte__: a YTE template - Snakemake has already evaluated its Python "
                             f"expressions while loading it; rwbench configs are plain YAML: remove __use_yte__ and "
                             f"the template keys, and never pass a config file you have not read")


def _non_finite(value, path=()) -> list[str]:
    """One message per NaN or infinite number in a config (YAML's .nan / .inf): the schema's bounds let them through
    (nan > 0 is false, so `exclusiveMinimum: 0` never fails), and they would reach the samplers as levels and steps."""
    import math

    if isinstance(value, dict):
        return [m for k, v in value.items() for m in _non_finite(v, (*path, k))]
    if isinstance(value, list):
        return [m for i, v in enumerate(value) for m in _non_finite(v, (*path, i))]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{_where(path)}: {value} is not a finite number; write a finite value"]
    return []


# at most this many sample jobs (shards) per run: a huge n_images (or a tiny shard_size) would otherwise make a DAG of
# millions of jobs that Snakemake spends hours building before it runs any
MAX_SHARDS_PER_RUN = 10_000


def _shard_errors(config: dict, name: str, exp: dict) -> list[str]:
    """A run's images ceil(n / shard_size) sample jobs: at most MAX_SHARDS_PER_RUN."""
    size = int(exp.get("shard_size", config.get("shard_size", default("shard_size"))))
    counts = {"n_images": int(exp.get("n_images", default("experiments.*.n_images"))),
              "n_targets": int(exp.get("n_targets", default("experiments.*.n_targets")))
              * int(exp.get("samples_per_target", default("experiments.*.samples_per_target")))}
    return [f"experiments.{name}.{key}: {n} images in shards of {size} is {-(-n // size)} sample jobs per run (at "
            f"most {MAX_SHARDS_PER_RUN}); lower {key} or raise shard_size"
            for key, n in counts.items() if -(-n // size) > MAX_SHARDS_PER_RUN]


def _validator_class():
    """Draft 2020-12 validator that also fills in each listed property's `default` (a deep copy) when absent."""
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": properties_with_defaults})


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "top level"


def _unknown_keys(error) -> list[str]:
    """One message per key an `additionalProperties: false` object does not list, with the closest valid key."""
    known = list((error.schema.get("properties") or {}))
    messages = []
    for key in sorted(k for k in error.instance if k not in known):
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(known)}"
        messages.append(f"{_where(error.absolute_path)}: unknown key {key!r} ({hint})")
    return messages


def _sampler_parameters(row) -> list[str]:
    """Keys a sampler accepts in sampler_options: the axes of its table row (rwbench.plan.samplers)."""
    return list(row.axes) + list(row.inverse_axes)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _solves(row, task: str) -> bool:
    return row.inverse if task != "uncond" else row.uncond


def _model_errors(config: dict, name: str, exp: dict) -> list[str]:
    """Each model of an experiment is declared and names a model the registry knows (rwbench.models.registry loads it
    in the sample job; its names are kept torch-free in rwbench.plan.samplers.REGISTRY_MODELS)."""
    from rwbench.plan.samplers import REGISTRY_MODELS

    messages, models = [], config.get("models") or {}
    for model in _as_list(exp.get("models") or []):
        if model not in models:
            messages.append(f"experiments.{name}.models: model {model!r} is not declared under `models:` "
                            f"(declared: {', '.join(sorted(models)) or 'none'})")
            continue
        registry = (models[model] or {}).get("registry", model)
        if registry not in REGISTRY_MODELS:
            close = difflib.get_close_matches(str(registry), REGISTRY_MODELS, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            messages.append(f"experiments.{name}.models: model {model!r} loads registry model {registry!r}, which "
                            f"rwbench.models.registry does not know ({hint}set models.{model}.registry to one of "
                            f"{', '.join(REGISTRY_MODELS)})")
    return messages


def _steps_errors(name: str, exp: dict) -> list[str]:
    """Every sampler of an experiment solves one of its tasks and can run each of its step counts (or NFE budgets):
    the rules are the sampler table's (Sampler.steps_problem, Sampler.steps_for_nfe)."""
    from rwbench.plan.samplers import SAMPLERS, sampler_params

    tasks = _as_list(exp.get("tasks", default("experiments.*.tasks")))
    rows = [SAMPLERS[s] for s in _as_list(exp.get("samplers") or []) if s in SAMPLERS]
    if rows and not any(_solves(row, task) for row in rows for task in tasks):
        return [f"experiments.{name}: no runs - samplers {', '.join(r.name for r in rows)} solve none of the tasks "
                f"{', '.join(map(str, tasks))} (posterior samplers solve inverse tasks only, native ones uncond only)"]
    messages = []
    key = "nfe" if "nfe" in exp else "steps"
    for row in rows:
        if not any(_solves(row, task) for task in tasks):
            continue
        opts = (exp.get("sampler_options") or {}).get(row.name) or {}
        params = sampler_params(row, False, exp, opts)
        values = _as_list(opts["steps"]) if "steps" in opts else _as_list(exp.get(key, [row.default("steps")]))
        for value in values:
            try:
                problem = (row.steps_for_nfe(int(value), params) and None) if key == "nfe" else \
                    row.steps_problem(int(value), params)
            except (TypeError, ValueError) as err:   # the table's own refusal, or an option that is not a number
                problem = str(err).removeprefix("nfe: ") if str(err).startswith("nfe: ") else \
                    f"cannot check {row.name}'s {key} {value!r} ({err}); check sampler_options.{row.name}"
            if problem:
                messages.append(f"experiments.{name}.{key}: {problem}")
    return messages


def _semantic_errors(config: dict) -> list[str]:
    """Checks the schema cannot express: reference_sampler is one of the experiment's samplers, sampler_options keys
    are samplers, and their options ones the sampler uses; each experiment's models are declared and known to the
    registry, its samplers solve one of its tasks and accept its steps (or NFE budgets)."""
    from rwbench.plan.claims import PILOT_SEED_BASE, check_claims
    from rwbench.plan.samplers import SAMPLERS

    messages = []
    for name, exp in (config.get("experiments") or {}).items():
        messages += _model_errors(config, name, exp) + _steps_errors(name, exp) + _shard_errors(config, name, exp)
        ref = exp.get("reference_sampler")
        if ref is not None and ref not in (exp.get("samplers") or []):
            messages.append(f"experiments.{name}.reference_sampler: {ref!r} is not one of the experiment's samplers "
                            f"({', '.join(exp.get('samplers') or [])}); name one of them or drop the key")
        for sampler, options in (exp.get("sampler_options") or {}).items():
            where = f"experiments.{name}.sampler_options"
            if sampler not in SAMPLERS:
                close = difflib.get_close_matches(sampler, list(SAMPLERS), n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else f"samplers: {', '.join(SAMPLERS)}"
                messages.append(f"{where}: unknown sampler {sampler!r} ({hint})")
                continue
            used = _sampler_parameters(SAMPLERS[sampler])
            for key in options:
                if key not in used:
                    close = difflib.get_close_matches(str(key), used, n=1, cutoff=0.5)
                    hint = f"did you mean {close[0]!r}?" if close else f"{sampler} uses: {', '.join(used) or 'none'}"
                    messages.append(f"{where}.{sampler}: unknown key {key!r} ({hint})")
        seeds = exp.get("seeds", exp.get("seed"))
        seeds = seeds if isinstance(seeds, list) else [seeds] if seeds is not None else []
        if any(int(s) >= PILOT_SEED_BASE for s in seeds):
            messages.append(f"experiments.{name}: seeds from {PILOT_SEED_BASE} on belong to pilot runs "
                            f"(rwbench.tools.design); confirmatory runs must not reuse a pilot's images")
    if int(config.get("seed", 0)) >= PILOT_SEED_BASE:
        messages.append(f"seed: {config['seed']} is a pilot seed (>= {PILOT_SEED_BASE}); choose a smaller base seed")
    try:
        check_claims(config)
    except ValueError as err:
        messages.append(str(err))
    return messages


def validate_config(config: dict, source: str = "config", schema: dict | None = None) -> dict:
    """Check `config` against the schema, fill in its defaults in place and return it; ValueError lists every problem."""
    schema = load_schema() if schema is None else schema
    validator = _validator_class()(schema)
    messages = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        if error.validator == "additionalProperties" and error.schema.get("additionalProperties") is False:
            messages += _unknown_keys(error)
        else:
            messages.append(f"{_where(error.absolute_path)}: {error.message}")
    messages += _non_finite(config)
    if not messages:
        messages = _semantic_errors(config)
    if messages:
        raise ValueError(f"{source}: " + "; ".join(messages) + " (see workflow/schemas/config.schema.yaml)")
    return config


def normal_path(path, resolve_links: bool = True) -> str:
    """One spelling of a path for everything the DAG keys on (job parameters, run specs): `..` and `.` removed and,
    with resolve_links, symlinks followed. An absolute path stays absolute; a relative one stays relative to the
    working folder when it lies inside it (else it becomes absolute). So `/x/rwbench/../rwbench/config/smoke.yaml`,
    and a link to it, are `/x/rwbench/config/smoke.yaml`, and a plain path is unchanged. Folders the DAG writes
    (results_dir, reports_dir) keep their links (resolve_links=False): only `..` and `.` go."""
    import os

    path = os.fspath(path)
    if not resolve_links:
        return os.path.normpath(path)
    real, here = os.path.realpath(path), os.path.realpath(os.getcwd())
    if os.path.isabs(path) or os.path.commonpath([real, here]) != here or real == here:
        return real
    return os.path.relpath(real, here)


def load_and_validate(path) -> dict:
    """Read a YAML config file and validate it (defaults filled in)."""
    return validate_config(load_config(path), str(path))


__all__ = ["SCHEMA_PATH", "read_schema", "load_schema", "node", "default", "defaults", "read_yaml", "load_config",
           "refuse_templates", "MAX_SHARDS_PER_RUN",
           "validate_config", "load_and_validate", "normal_path"]
