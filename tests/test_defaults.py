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
