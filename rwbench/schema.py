"""Defaults of the config schema (workflow/schemas/config.schema.yaml), the one home of every option's default, for
the CLI parsers, rwbench.grid and the rules (torch-free; the schema is read by rwbench.config)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The parsed schema (read once per process through rwbench.config.load_schema)."""
    from rwbench.config import load_schema as read_schema

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
