"""rwbench.plan.figures, the one home of figure names and of the files each figure writes: every other list reads it,
and each figure's build writes exactly the files its row declares (the DAG declares them as outputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rwbench.plan import figures as ft
from rwbench.figures import runs as figure_runs

# module-scoped fixtures of the figure tests: a synthetic results tree, and evaluated calibration runs on an oracle
from test_calibration import oracle_tree  # noqa: F401
from test_figures import tree  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def declared(name: str, specs: list[dict]) -> set[str]:
    """File names the figure's row declares for these runs (PNG and, with a table, CSV, Markdown and HTML)."""
    names = set()
    for f in ft.figure_files(name, specs):
        names.add(f"{f.stem}.png")
        if f.table:
            names.update(f"{f.stem}.{ext}" for ext in ("csv", "md", "html"))
    return names


def written(metrics, runs_dir, tables_dir, out, name: str) -> set[str]:
    got, skipped, notes, _ = figure_runs.build_figures(metrics, runs_dir, tables_dir, out, only=[name],
                                                       formats=("png",))
    assert not skipped and not notes, (skipped, notes)
    return {Path(p).name for p in got[name]}


@pytest.mark.parametrize("name", ["schedules", "ve-vs-vp", "temperature", "inverse", "nfe", "cross", "posterior",
                                  "equivalence"])
def test_each_figure_writes_exactly_what_its_row_declares(tree, tmp_path, name):  # noqa: F811
    specs = [s for s, _ in tree["expected"].values() if s["figure"] == name]
    assert specs or name == "equivalence"
    got = written(tree["metrics"], tree["root"] / "runs", tree["tables"], tmp_path, name)
    assert got == declared(name, specs)


def test_calibration_writes_exactly_what_its_row_declares(oracle_tree, tmp_path):  # noqa: F811
    config, root = oracle_tree
    from rwbench.plan.grid import expand_experiment

    specs = expand_experiment(config, "e")
    got = written(root / "metrics.csv", root / "runs", root / "tables", tmp_path, "calibration")
    assert got == declared("calibration", specs) == {"calibration.png", "calibration.csv", "calibration.md",
                                                     "calibration.html", "calibration-grid.png"}


def test_every_figure_list_reads_the_table():
    import yaml

    from rwbench.plan import grid
    from rwbench.figures import FIGURES

    assert list(FIGURES) == list(ft.NAMES) and all(FIGURES[n] == ft.FIGURES[n].module for n in ft.NAMES)
    assert grid.FIGURES == (*ft.NAMES, "none")
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    figure = schema["properties"]["experiments"]["additionalProperties"]["properties"]["figure"]
    assert figure["enum"] == [*ft.NAMES, "none"]
    common = (ROOT / "workflow/rules/common.smk").read_text()   # the DAG declares each figure's files from its row
    assert "figure_files(" in common and "schedules-samples" not in common and "calibration-grid" not in common
    for row in ft.ROWS:                      # every file has a caption in the report
        for f in row.files([{"task": "inpaint"}]):
            assert (ROOT / "workflow/report/figures" / f"{f.caption}.rst").is_file(), f
            assert not f.table or (ROOT / "workflow/report/tables" / f"{f.caption}.rst").is_file(), f


def test_rows_are_validated():
    with pytest.raises(ValueError, match="not a module of rwbench.figures"):
        ft.Figure("x", "os.path")
    with pytest.raises(ValueError, match="does not start with"):
        ft.Figure("x", "rwbench.figures.x", (ft.Extra("y-samples", table=False),))
    with pytest.raises(ValueError, match="per_task"):
        ft.Extra("x-{task}", table=True)
    with pytest.raises(ValueError, match="listed twice"):
        ft._index((ft.Figure("x", "rwbench.figures.x"), ft.Figure("x", "rwbench.figures.y")))
    assert ft.figure_files("inverse", []) == [ft.FigureFile("inverse", True, "inverse")]
    assert [f.stem for f in ft.figure_files("inverse", [{"task": "sr"}, {"task": "uncond"}, {"task": "box"}])] == [
        "inverse", "inverse-box", "inverse-sr"]
