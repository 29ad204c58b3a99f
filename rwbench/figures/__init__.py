"""Figures and tables built only from results (aggregated metrics, sample shards, input tables): one module per figure.

Each module's `build(ctx: rwbench.figures.common.Context) -> list[Path]` writes PNG/PDF into <out>/figures/ and
the numbers behind it as CSV + Markdown into <out>/tables/; `rwbench figures` (rwbench.commands.figures) runs them.
"""

from rwbench.plan.figures import FIGURES as _ROWS

# figure name (the spec's `figure` value) -> module implementing build(ctx); the rows live in rwbench.plan.figures
FIGURES: dict[str, str] = {name: row.module for name, row in _ROWS.items()}
