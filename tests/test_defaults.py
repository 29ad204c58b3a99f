"""Defaults have one home, the config schema: every library function that takes a schema option as a parameter
defaults it to the schema's value (or reads an options object built from it), so a call by hand and a DAG job agree."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from rwbench.plan import config

# (module, function, schema section whose options it takes as parameters)
LIBRARY = [
    ("rwbench.analysis.compare", "counts", "compare"),
    ("rwbench.analysis.compare", "markdown", "compare"),
    ("rwbench.analysis.compare", "write", "compare"),
    ("rwbench.metrics.floors", "compute_floors", "floors"),
    ("rwbench.scalespace.runs", "scalespace_run", "scalespace"),
    ("rwbench.scalespace.diagnostics", "gaussian_summary", "scalespace"),
    ("rwbench.scalespace.diagnostics", "trajectory_diagnostics", "scalespace"),
    ("rwbench.scalespace.baselines", "forward_trajectory", "scalespace"),
]


def mismatches(function, section: str) -> list[str]:
    schema = config.defaults(section)
    out = []
    for name, parameter in inspect.signature(function).parameters.items():
        if name in schema and parameter.default is not inspect.Parameter.empty and parameter.default != schema[name]:
            out.append(f"{function.__module__}.{function.__name__}({name}={parameter.default!r}): "
                       f"the schema's {section}.{name} is {schema[name]!r}")
    return out


@pytest.mark.parametrize("module, name, section", LIBRARY)
def test_library_defaults_are_the_schemas(module, name, section):
    import importlib

    function = getattr(importlib.import_module(module), name)
    shared = set(inspect.signature(function).parameters) & set(config.defaults(section))
    assert shared, f"{module}.{name} takes no {section} option; drop it from LIBRARY"
    assert not mismatches(function, section)


def test_evaluate_options_are_the_schemas():
    from rwbench.metrics.options import EvaluateOptions

    fields = {f.name: f.default for f in dataclasses.fields(EvaluateOptions)}
    for key, value in config.defaults("metrics").items():
        assert fields[key] == (None if key == "extractor" else value), key   # extractor None: the dataset's default


def test_a_drifted_default_is_reported():
    def drifted(draws: int = 3, seed: int = 0):
        return draws, seed

    (message,) = mismatches(drifted, "floors")
    assert "draws=3" in message and "floors.draws is 20" in message


# Every function in rwbench/ (read from the source: no import needed) whose parameter is named like a schema option and
# defaults to a literal must default to that option's schema value. The exceptions are parameters that share a name
# with an option but mean something else, each with its reason.
OTHER_MEANING = {
    ("figures/common.py", "save_figure", "draws"): "the sample draws to plot, not floors.draws (a count)",
    ("figures/pareto.py", "build", "samples_nfe"): "the library call draws no sample grids unless asked; the DAG "
                                                   "passes pareto.samples_nfe",
    ("metrics/evaluate.py", "add", "extractor"): "a metrics row's extractor label ('' = none)",
    ("metrics/evaluate.py", "summary", "extractor"): "a metrics row's extractor label ('' = none)",
    ("metrics/evaluate.py", "boot", "extractor"): "a metrics row's extractor label ('' = none)",
    ("metrics/floors.py", "compute_floors", "batch_size"): "feature-extraction batch, not scalespace.batch_size",
    ("nets/classifier.py", "calibrate_features", "batch_size"): "calibration batch, not scalespace.batch_size",
    ("tools/bench/quality.py", "sample_native", "batch_size"): "the benchmark's sampling batch",
}


def schema_leaves() -> dict[str, dict[str, object]]:
    """{option name: {dotted schema path: default}} of every schema option with a default."""
    leaves: dict[str, dict[str, object]] = {}

    def walk(props, prefix):
        for key, prop in (props or {}).items():
            if isinstance(prop, dict) and prop.get("type") == "object" and "properties" in prop:
                walk(prop["properties"], prefix + (key,))
            elif isinstance(prop, dict) and "default" in prop:
                leaves.setdefault(key, {})[".".join(prefix + (key,))] = prop["default"]

    walk(config.load_schema()["properties"], ())
    return leaves


def literal_default_drift(source: str, where: str, leaves) -> list[str]:
    import ast

    out = []
    for f in ast.walk(ast.parse(source)):
        if not isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = f.args.posonlyargs + f.args.args
        pairs = list(zip(args[len(args) - len(f.args.defaults):], f.args.defaults))
        pairs += [(a, d) for a, d in zip(f.args.kwonlyargs, f.args.kw_defaults) if d is not None]
        for arg, node in pairs:
            if arg.arg not in leaves or (where, f.name, arg.arg) in OTHER_MEANING:
                continue
            try:
                value = ast.literal_eval(node)
            except ValueError:
                continue                                   # read from somewhere (config.default(...), a constant)
            if value is not None and value not in leaves[arg.arg].values():
                out.append(f"{where}: {f.name}({arg.arg}={value!r}); the schema says {leaves[arg.arg]}")
    return out


def test_no_library_function_defaults_a_schema_option_to_a_number_of_its_own():
    from pathlib import Path

    package = Path(config.__file__).resolve().parents[1]
    leaves = schema_leaves()
    drift = [d for p in sorted(package.rglob("*.py"))
             for d in literal_default_drift(p.read_text(), str(p.relative_to(package)), leaves)]
    assert not drift, "defaults that are not the schema's:\n" + "\n".join(drift)
    assert literal_default_drift("def f(n_boot=7): ...", "x.py", leaves)          # the scan can fail
    assert not literal_default_drift("def f(n_boot=None): ...", "x.py", leaves)   # None: read the schema later
