"""Template vs native samplers: max absolute and relative deviation of the iterates per step (log y), one line per pair;
Table II's rows solid, the solver rows (Euler, Euler-ancestral, DDIM, released NCSN; docs/solvers.md) dash-dotted."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rwbench.figures import style
from rwbench.figures.common import Context, SkipFigure

COLUMNS = ["pair", "k", "max_abs_dev", "max_rel_dev"]
FLOOR = 1e-20  # exact zeros are drawn at this value on the log axis


def _group(part: pd.DataFrame) -> str:
    """The row group of a pair ("table2" | "solvers"); tables written before the column existed are Table II's."""
    return str(part["group"].iloc[0]) if "group" in part.columns else "table2"


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per pair (Table II's rows first): steps, max over k of both deviations (and where), the final iterate's."""
    rows = []
    for pair, part in table.groupby("pair", sort=False):
        part = part.sort_values("k")
        rows.append({"pair": pair, "group": _group(part),
                     "exact": bool(part["exact"].iloc[0]) if "exact" in part.columns else np.nan,
                     "steps": len(part), "max_abs_dev": part["max_abs_dev"].max(),
                     "k_of_max_abs": int(part.loc[part["max_abs_dev"].idxmax(), "k"]),
                     "max_rel_dev": part["max_rel_dev"].max(),
                     "final_abs_dev": part["max_abs_dev"].iloc[-1], "final_rel_dev": part["max_rel_dev"].iloc[-1]})
    out = pd.DataFrame(rows)
    order = out["group"].map({"table2": 0}).fillna(1)
    return out.assign(_order=order).sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def build(ctx: Context) -> list[Path]:
    """Plot <tables>/equivalence.csv (written by `rwbench equivalence`) and tabulate the per-pair summary."""
    path = ctx.tables_dir / "equivalence.csv"
    if not path.is_file():
        raise SkipFigure(f"{path} absent (run `rwbench equivalence`)")
    table = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; regenerate it with `rwbench equivalence`")
    if table.empty:
        raise SkipFigure(f"{path} has no rows")
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2), squeeze=False)
    colors = style.series_colors(table["pair"].astype(str))
    zeros = False
    for ax, metric, name in zip(axes[0], ("max_abs_dev", "max_rel_dev"),
                                ("max |template - native| [data scale]",
                                 "max ||template - native|| / ||native|| [ratio]")):
        for i, (pair, part) in enumerate(table.groupby("pair", sort=False)):
            part = part.sort_values("k")
            y = part[metric].to_numpy(float)
            zeros |= bool((y <= 0).any())
            exact = bool(part["exact"].iloc[0]) if "exact" in part.columns else True
            line = "--" if not exact else ("-" if _group(part) == "table2" else "-.")
            ax.plot(part["k"], np.clip(y, FLOOR, None), color=colors[str(pair)], lw=1.2, ls=line,
                    label=pair if exact else f"{pair} (not exact)")
        if metric == "max_rel_dev":
            ax.axhline(np.finfo(np.float64).eps, color="grey", lw=0.8, ls=":", label="float64 eps")
        ax.set_yscale("log")
        ax.set_xlabel("iteration k [step]")
        ax.set_ylabel(name)
        ax.set_title("absolute deviation per step" if metric == "max_abs_dev" else "relative deviation per step")
    axes[0][0].legend(fontsize=6, ncol=2)
    axes[0][1].legend(handles=axes[0][1].get_lines()[-1:], fontsize=7, loc="center right")
    if zeros:
        axes[0][1].annotate(f"exact zeros drawn at {FLOOR:g}", xy=(0.98, 0.02), xycoords="axes fraction", ha="right",
                            fontsize=7)
    fig.tight_layout()
    return ctx.save_figure(fig, "equivalence") + ctx.save_table(summary(table), "equivalence")
