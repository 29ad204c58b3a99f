"""Figures and tables built only from results (aggregated metrics, sample shards, input tables): one module per figure.

Each module's `build(ctx: rwbench.figures.common.Context) -> list[Path]` writes PNG/PDF into <out>/figures/ and
the numbers behind it as CSV + Markdown into <out>/tables/; `rwbench figures` (rwbench.commands.figures) runs them.
"""

# figure name (the spec's `figure` value) -> module implementing build(ctx)
FIGURES: dict[str, str] = {
    "schedules": "rwbench.figures.schedules",
    "ve-vs-vp": "rwbench.figures.ve_vs_vp",
    "temperature": "rwbench.figures.temperature",
    "inverse": "rwbench.figures.inverse",
    "nfe": "rwbench.figures.nfe",
    "cross": "rwbench.figures.cross",
    "posterior": "rwbench.figures.posterior",
    "equivalence": "rwbench.figures.equivalence",
    "calibration": "rwbench.figures.calibration",
}
