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
                                                     "calibration.html", "calibration-grid.png",
                                                     "calibration-inpaint.png"}


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
    for row in ft.ALL.values():              # every file has a caption in the report
        for f in row.files([{"task": "inpaint", "family": "vp"}]):
            assert (ROOT / "workflow/report/figures" / f"{f.key}.rst").is_file(), f
            assert not f.table or (ROOT / "workflow/report/tables" / f"{f.key}.rst").is_file(), f


def test_report_captions_are_written_from_the_table():
    """One home: the committed caption files are exactly what rwbench.figures.captions writes from the rows."""
    from rwbench.figures import captions

    for rel, text in captions.report_captions().items():
        assert (ROOT / "workflow/report" / rel).read_text() == text, f"{rel} is stale: run python -m rwbench.figures.captions"
    generated = {f"figures/{f.key}.rst" for f in ft.caption_files()}
    assert {f"figures/{p.name}" for p in (ROOT / "workflow/report/figures").glob("*.rst")} == generated


def test_every_file_has_a_caption_naming_what_it_draws(tree, tmp_path):  # noqa: F811
    """Each figure built from the synthetic tree: its caption (the table's, placeholders filled) is there, names the
    figure's task or family where the stem holds one, and names every metric its panels draw (by its label)."""
    from rwbench.figures import captions
    from rwbench.figures.common import Context, read_metrics
    from rwbench.metrics.registry import metric_label

    ctx = Context(read_metrics(tree["metrics"]), tree["root"] / "runs", tree["tables"], tmp_path, ("png",))
    import importlib

    for name in ft.NAMES:
        if name == "calibration":
            continue                       # built from its own tree below (test_calibration's oracle runs)
        importlib.import_module(ft.FIGURES[name].module).build(ctx)
    assert ctx.drawn and not ctx.notes, ctx.notes
    for stem, drawn in ctx.drawn.items():
        text = captions.caption(stem)
        assert text.strip(), f"{stem}: no caption in rwbench.plan.figures"
        assert "{" not in text, text
        for metric in drawn["draws"]:
            label = metric_label(metric, unit=False).lower()
            assert label in text.lower() or metric.replace("_", " ") in text.lower(), (stem, metric, label)
    assert "inpaint" in captions.caption("inverse-inpaint") and "sr" in captions.caption("inverse-sr-metrics")
    assert "vp models" in captions.caption("scalespace-vp-moments") and captions.caption("no-such-figure") == ""
    readme = captions.write_readme(tmp_path).read_text()
    assert all(f"## {stem}" in readme for stem in ctx.drawn)


def test_figures_keep_to_six_panels_and_2400_px(tree, oracle_tree, tmp_path):  # noqa: F811
    """Every PNG a small run writes (the synthetic tree's figures, the calibration figures of oracle runs): at most
    MAX_PANELS panels and at most MAX_WIDTH_PX wide, read from the PNG itself."""
    from PIL import Image

    from rwbench.figures import style
    from rwbench.figures.common import Context, read_metrics

    config, root = oracle_tree
    seen = {}
    for metrics, runs, tables, out in ((tree["metrics"], tree["root"] / "runs", tree["tables"], tmp_path / "a"),
                                       (root / "metrics.csv", root / "runs", root / "tables", tmp_path / "b")):
        got, skipped, notes, _ = figure_runs.build_figures(metrics, runs, tables, out, formats=("png",))
        for png in (out / "figures").glob("*.png"):
            seen[png.name] = Image.open(png).size
    assert {"nfe.png", "inverse.png", "inverse-inpaint.png", "calibration.png", "calibration-grid.png",
            "temperature.png"} <= set(seen)
    for name, (width, _) in seen.items():
        assert width <= style.MAX_WIDTH_PX, (name, width)
    ctx = Context(read_metrics(tree["metrics"]), tree["root"] / "runs", tree["tables"], tmp_path / "c", ("png",))
    for name in ft.NAMES:
        if name != "calibration":
            import importlib

            importlib.import_module(ft.FIGURES[name].module).build(ctx)
    assert all(d["panels"] <= style.MAX_PANELS for d in ctx.drawn.values()), ctx.drawn


def test_rows_are_validated():
    with pytest.raises(ValueError, match="not a module of rwbench.figures"):
        ft.Figure("x", "os.path", "c", "t")
    with pytest.raises(ValueError, match="does not start with"):
        ft.Figure("x", "rwbench.figures.x", "c", "t", (ft.Extra("y-samples", table=False, caption="c"),))
    with pytest.raises(ValueError, match="at most one placeholder"):
        ft.Extra("x-{task}-{family}", table=False, caption="c")
    with pytest.raises(ValueError, match="needs a caption"):
        ft.Extra("x-{task}", table=True, caption="c")
    with pytest.raises(ValueError, match="listed twice"):
        ft._index((ft.Figure("x", "rwbench.figures.x", "c", "t"), ft.Figure("x", "rwbench.figures.y", "c", "t")))
    assert [f.stem for f in ft.figure_files("inverse", [])] == ["inverse"]
    assert [f.stem for f in ft.figure_files("inverse", [{"task": "sr"}, {"task": "uncond"}, {"task": "box"}])] == [
        "inverse", "inverse-box", "inverse-sr", "inverse-box-metrics", "inverse-sr-metrics"]
    files = ft.figure_files("scalespace", [{"family": "vp"}, {"family": "oracle"}])
    assert [f.stem for f in files] == ["scalespace", "scalespace-oracle-moments", "scalespace-vp-moments",
                                       "scalespace-oracle-distances", "scalespace-vp-distances"]
    assert files[2].key == "scalespace-family-moments" and "vp models" in files[2].caption
