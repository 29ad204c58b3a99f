"""The figures of `rwbench figures`, one frozen row each: the one home of figure names and of the files each writes.

A row names the figure (an experiment's `figure` value), the module whose `build(ctx)` draws it, and what it writes:
<name>.png/.pdf with its table (<name>.csv/.md/.html) and, when the figure has runs, its extras (sample grids, metric
panels), some once per inverse task. The DAG declares exactly these files as outputs of its figures job
(workflow/rules/common.smk), rwbench.plan.grid checks experiments' `figure` against the names and `rwbench figures`
imports the modules; tests/test_figure_table.py checks that each build writes what its row declares.
Torch-free: the Snakefile imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = re.compile(r"^[a-z][a-z0-9-]*$")
NONE = "none"   # an experiment's `figure` when it feeds no figure


@dataclass(frozen=True)
class FigureFile:
    """One file stem a figure writes: <stem>.png/.pdf, and <stem>.csv/.md/.html when `table`; `caption` names its
    report caption (workflow/report/figures/<caption>.rst and, with a table, workflow/report/tables/<caption>.rst)."""

    stem: str
    table: bool
    caption: str


@dataclass(frozen=True)
class Extra:
    """A file a figure writes besides its own plot when it has runs. `per_task`: once per inverse task of its runs,
    with "{task}" in `stem` replaced by the task name (the caption keeps the word "task")."""

    stem: str
    table: bool
    per_task: bool = False

    def __post_init__(self):
        if self.per_task != ("{task}" in self.stem):
            raise ValueError(f"figure extra {self.stem!r}: per_task needs exactly one '{{task}}' in the stem")
        if not NAME.match(self.stem.replace("{task}", "task")):
            raise ValueError(f"figure extra {self.stem!r}: a stem is lower-case letters, digits and '-'")

    def files(self, specs: list[dict]) -> list[FigureFile]:
        """The files of this extra for the figure's run specs (none without runs)."""
        if not specs:
            return []
        caption = self.stem.replace("{task}", "task")
        if not self.per_task:
            return [FigureFile(self.stem, self.table, caption)]
        tasks = sorted({s["task"] for s in specs if s["task"] != "uncond"})
        return [FigureFile(self.stem.replace("{task}", t), self.table, caption) for t in tasks]


@dataclass(frozen=True)
class Figure:
    """A figure: its name, the dotted path of the module with `build(ctx) -> list[Path]`, and its extras."""

    name: str
    module: str
    extras: tuple[Extra, ...] = ()

    def __post_init__(self):
        if not NAME.match(self.name) or self.name == NONE:
            raise ValueError(f"figure {self.name!r}: a name is lower-case letters, digits and '-', and not {NONE!r}")
        if not re.match(r"^rwbench\.figures\.[a-z_][a-z0-9_]*$", self.module):
            raise ValueError(f"figure {self.name!r}: module {self.module!r} is not a module of rwbench.figures")
        for extra in self.extras:
            if not extra.stem.startswith(f"{self.name}-"):
                raise ValueError(f"figure {self.name!r}: extra {extra.stem!r} does not start with '{self.name}-'")

    def files(self, specs: list[dict]) -> list[FigureFile]:
        """Every file stem the figure writes, given the specs of the runs whose `figure` is this one: its plot and
        table first, then its extras (when it has runs)."""
        out = [FigureFile(self.name, True, self.name)]
        for extra in self.extras:
            out += extra.files(specs)
        return out


ROWS: tuple[Figure, ...] = (
    Figure("schedules", "rwbench.figures.schedules", (Extra("schedules-samples", table=True),
                                                      Extra("schedules-metrics", table=False))),
    Figure("ve-vs-vp", "rwbench.figures.ve_vs_vp", (Extra("ve-vs-vp-metrics", table=False),)),
    Figure("temperature", "rwbench.figures.temperature", (Extra("temperature-samples", table=False),)),
    Figure("inverse", "rwbench.figures.inverse", (Extra("inverse-{task}", table=True, per_task=True),)),
    Figure("nfe", "rwbench.figures.nfe"),
    Figure("cross", "rwbench.figures.cross"),
    Figure("posterior", "rwbench.figures.posterior"),
    Figure("equivalence", "rwbench.figures.equivalence"),
    # the inverse grid of the calibration runs (rwbench.figures.inverse_grid.build_runs)
    Figure("calibration", "rwbench.figures.calibration", (Extra("calibration-grid", table=False),)),
)


def _index(rows: tuple[Figure, ...]) -> dict[str, Figure]:
    table: dict[str, Figure] = {}
    stems: set[str] = set()
    for row in rows:
        if row.name in table:
            raise ValueError(f"figure {row.name!r} is listed twice")
        table[row.name] = row
    for row in rows:
        for extra in row.extras:
            if extra.stem in table or extra.stem in stems:
                raise ValueError(f"figure extra {extra.stem!r} is listed twice or is a figure's name")
            stems.add(extra.stem)
    return table


FIGURES: dict[str, Figure] = _index(ROWS)
NAMES: tuple[str, ...] = tuple(FIGURES)


def figure_files(name: str, specs: list[dict]) -> list[FigureFile]:
    """The files figure `name` writes for the specs of its runs (rwbench.plan.grid run specs)."""
    return FIGURES[name].files(specs)


__all__ = ["NONE", "FigureFile", "Extra", "Figure", "ROWS", "FIGURES", "NAMES", "figure_files"]
