"""Shared figure plumbing: the aggregated metrics as one row per run, shard access, image grids, atomic PNG/PDF/CSV/MD output."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from rwbench.io import atomic_path, atomic_write  # noqa: E402

from rwbench import rundir  # noqa: E402

METRIC_COLUMNS = [c for c in rundir.METRIC_COLUMNS if c != "run_id"]  # long-format columns besides run_id
# wide columns run_frame adds per metric m from the se / ci columns: m_se, m_ci95_lo, m_ci95_hi
UNCERTAINTY = {"se": "_se", "ci_lo": "_ci95_lo", "ci_hi": "_ci95_hi"}
CONFIDENT = ("confident", "confident_share")  # digits-classifier confident share (evaluate writes confident_share)
FAMILY_ORDER = ("vp", "ve", "iadb", "oracle")
SHOWN = 16  # images per sample grid


class SkipFigure(Exception):
    """A figure whose runs or tables are absent: skipped with a one-line note, not an error."""


def read_metrics(path: str | Path) -> pd.DataFrame:
    """Read results/metrics.csv (or .parquet) written by `rwbench aggregate`; empty or malformed tables are errors."""
    path = Path(path)
    frame = rundir.read_metrics_csv(path)
    if frame.empty:
        raise ValueError(f"{path}: the metrics table has no rows; evaluate some runs and re-run `rwbench aggregate`")
    return frame


def run_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its flattened spec columns plus one column per metric (spec names that clash get `spec_`) and,
    where the table has se / ci_lo / ci_hi, the columns <metric>_se, <metric>_ci95_lo, <metric>_ci95_hi."""
    spec_cols = [c for c in metrics.columns if c not in METRIC_COLUMNS]
    specs = metrics[spec_cols].drop_duplicates("run_id").set_index("run_id")
    latest = metrics.drop_duplicates(["run_id", "metric"], keep="last")
    values = latest.pivot(index="run_id", columns="metric", values="value")
    for col, suffix in UNCERTAINTY.items():
        if col in latest.columns:
            part = latest[latest[col].notna()]
            if not part.empty:
                extra = part.pivot(index="run_id", columns="metric", values=col).add_suffix(suffix)
                values = values.join(extra[[c for c in extra.columns if c not in values.columns]])
    specs = specs.rename(columns={c: f"spec_{c}" for c in specs.columns if c in values.columns})
    wide = specs.join(values.astype(float))
    wide.columns.name = None
    wide["diverged_run"] = diverged_mask(wide)
    return wide.reset_index()


def diverged_mask(wide: pd.DataFrame) -> pd.Series:
    """A run is diverged when evaluate wrote a `diverged` row (too many non-finite images) or every image diverged."""
    flag = pd.Series(False, index=wide.index)
    if "diverged" in wide.columns:
        flag |= wide["diverged"].fillna(0) > 0
    if "diverged_fraction" in wide.columns:
        flag |= wide["diverged_fraction"].fillna(0) >= 1.0
    return flag


def first_present(frame: pd.DataFrame, names) -> str | None:
    """The first of `names` that is a column of `frame` with at least one value."""
    for name in names:
        if name in frame.columns and frame[name].notna().any():
            return name
    return None


def column(frame: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    """frame[name], or a constant column when the spec key does not exist for these runs."""
    return frame[name] if name in frame.columns else pd.Series(default, index=frame.index)


def data_range(row) -> tuple[float, float]:
    """A run's data_range (a JSON list after flattening), falling back to its family's range."""
    from rwbench.data import family_range

    value = row.get("data_range") if hasattr(row, "get") else None
    if isinstance(value, str) and value.strip():
        lo, hi = json.loads(value)
        return float(lo), float(hi)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return family_range(str(row.get("family")))


def label(value) -> str:
    """Short text of a spec value for titles and legends (numbers via rwbench.grid.fmt)."""
    from rwbench.grid import fmt

    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, (float, np.floating)):
        return fmt(float(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value)


shard_files = rundir.shard_files  # the run-directory readers live in rwbench.rundir
load_shard = rundir.load_shard


def first_images(run_dir: Path, n: int = SHOWN) -> torch.Tensor | None:
    """`sample_uint8` of the first shard, first n images ([n, C, H, W] uint8), or None when the run has no shard."""
    files = shard_files(run_dir)
    if not files:
        return None
    shard = load_shard(files[0])
    if "sample_uint8" not in shard:
        raise ValueError(f"{files[0]}: shard lacks 'sample_uint8' (see docs/run-layout.md)")
    return shard["sample_uint8"][:n]


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 images [N, C, H, W] into one [rows*(H+pad)+pad, ...] array (H x W for C = 1, else H x W x C)."""
    if images.ndim != 4 or images.dtype != torch.uint8:
        raise ValueError(f"images: need uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    N, C, H, W = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(N)))
    rows = max(1, math.ceil(N / nrow))
    canvas = torch.full((C, rows * (H + pad) + pad, nrow * (W + pad) + pad), pad_value, dtype=torch.uint8)
    for i in range(N):
        r, c = divmod(i, nrow)
        top, left = pad + r * (H + pad), pad + c * (W + pad)
        canvas[:, top:top + H, left:left + W] = images[i]
    array = canvas.permute(1, 2, 0).numpy()
    return array[..., 0] if C == 1 else array


def show_image(ax, array: np.ndarray, title: str | None = None) -> None:
    """imshow a uint8 grid or a [0, 1] float image without axes (grey colormap for single-channel images)."""
    vmax = 255 if array.dtype == np.uint8 else 1.0
    if array.ndim == 2:
        ax.imshow(array, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    else:
        ax.imshow(array, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=8)


def unit_image(x: torch.Tensor) -> np.ndarray:
    """A [C, H, W] image on [0, 1] as a clipped float array for imshow (H x W for C = 1)."""
    array = x.detach().to(torch.float64).clamp(0, 1).permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


@dataclass
class Context:
    """Everything a figure reads (aggregated metrics, run folders, input tables) and where it writes."""

    metrics: pd.DataFrame
    runs_dir: Path
    tables_dir: Path
    out: Path
    formats: tuple[str, ...] = ("png", "pdf")
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.runs_dir, self.tables_dir, self.out = Path(self.runs_dir), Path(self.tables_dir), Path(self.out)
        self.runs = run_frame(self.metrics)

    def figure_runs(self, figure: str, required: bool = True) -> pd.DataFrame:
        """Runs whose spec `figure` column names this figure (SkipFigure when there are none and `required`)."""
        if "figure" not in self.runs.columns:
            selected = self.runs.iloc[0:0]
        else:
            selected = self.runs[self.runs["figure"].astype(str) == figure]
        if selected.empty and required:
            raise SkipFigure(f"no runs with figure == {figure!r} in the metrics table")
        return selected.reset_index(drop=True)

    def run_dir(self, run_id: str) -> Path:
        """results/runs/<run_id>."""
        return self.runs_dir / str(run_id)

    def note(self, text: str) -> None:
        """Record a one-line note (a run or part of a figure that was skipped)."""
        self.notes.append(text)

    def save_figure(self, fig, stem: str) -> list[Path]:
        """Write reports/figures/<stem>.<fmt> for every format atomically and close the figure."""
        written = []
        try:
            for fmt in self.formats:
                path = self.out / "figures" / f"{stem}.{fmt}"
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight", pad_inches=0.05)
                written.append(path)
        finally:
            plt.close(fig)
        return written

    def save_table(self, frame: pd.DataFrame, stem: str, markdown: pd.DataFrame | None = None) -> list[Path]:
        """Write reports/tables/<stem>.csv (all numbers), .md and .html (`markdown` if given: a compact view; the HTML
        page is what the Snakemake report shows inline) atomically."""
        from rwbench.figures.html import write_table_html

        csv_path, md_path = self.out / "tables" / f"{stem}.csv", self.out / "tables" / f"{stem}.md"
        view = frame if markdown is None else markdown
        with atomic_write(csv_path, "w") as handle:
            frame.to_csv(handle, index=False)
        with atomic_write(md_path, "w") as handle:
            handle.write(view.to_markdown(index=False) + "\n")
        html_path = write_table_html(view, self.out / "tables" / f"{stem}.html", stem)
        return [csv_path, md_path, html_path]


def metric_table(runs: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """run_id, the given spec keys (when present) and metric columns (when present), plus `diverged_run`."""
    cols = ["run_id"] + [k for k in keys if k in runs.columns] + [m for m in metrics if m in runs.columns]
    return runs[cols + ["diverged_run"]].copy()


def present_metrics(runs: pd.DataFrame, wanted) -> list[str]:
    """The metric columns among `wanted` with at least one finite value (the confident share under either name)."""
    out = []
    for name in wanted:
        key = first_present(runs, CONFIDENT) if name in CONFIDENT else name
        if key and key in runs.columns and np.isfinite(runs[key].astype(float)).any() and key not in out:
            out.append(key)
    return out


def family_key(value) -> tuple[int, str]:
    """Sort key putting families in the order vp, ve, iadb, oracle, then the rest alphabetically."""
    text = str(value)
    return (FAMILY_ORDER.index(text) if text in FAMILY_ORDER else len(FAMILY_ORDER), text)
