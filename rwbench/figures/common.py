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

from rwbench.figures import style  # noqa: E402
from rwbench.figures.labels import axis_label  # noqa: E402
from rwbench.io import atomic_path, atomic_write, write_table_html  # noqa: E402
from rwbench.metrics.registry import metric_label  # noqa: E402  (the metric registry)
from rwbench.plan.samplers import FAMILIES  # noqa: E402

from rwbench.run import rundir  # noqa: E402

METRIC_COLUMNS = [c for c in rundir.METRIC_COLUMNS if c != "run_id"]  # long-format columns besides run_id
# wide columns run_frame adds per metric m from the se / ci columns: m_se, m_ci95_lo, m_ci95_hi
UNCERTAINTY = {"se": "_se", "ci_lo": "_ci95_lo", "ci_hi": "_ci95_hi"}
CONFIDENT = ("confident", "confident_share")  # digits-classifier confident share (evaluate writes confident_share)
FAMILY_ORDER = FAMILIES      # legend order of model families
SHOWN = 16  # images per sample grid
style.apply_theme()


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
    """Short text of a spec value for titles and legends (numbers via rwbench.plan.grid.fmt)."""
    from rwbench.plan.grid import fmt

    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, (float, np.floating)):
        return fmt(float(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value)


def line_sort_key(line: str) -> tuple[int, str]:
    """Sort key of a line label (line_labels): the sampler table's order (rwbench.plan.grid.SAMPLERS, the random walk
    first) of its first word, then the label's text; samplers outside the table come last."""
    from rwbench.plan.grid import SAMPLERS

    order = list(SAMPLERS)
    name = line.split(" ")[0]
    return (order.index(name) if name in order else len(order), line)


def line_labels(runs: pd.DataFrame) -> pd.Series:
    """One line label per run (index of `runs`): the sampler, then `key=value` for every params_ column (step_scale
    aside) whose value differs between the sampler's runs at one (eta, task, sampler, nfe), e.g. 'rw c=0.5'."""
    params = [c for c in runs.columns if c.startswith("params_") and c != "params_step_scale"]
    group = [c for c in ("eta", "task", "sampler", "nfe") if c in runs.columns]
    varying = [c for c in params if (runs.groupby(group, dropna=False)[c].nunique(dropna=True) > 1).any()]
    text = [" ".join([str(r["sampler"])] + [f"{c[len('params_'):]}={label(r[c])}" for c in varying if pd.notna(r[c])])
            for _, r in runs.iterrows()]
    return pd.Series(text, index=runs.index)


def _number(row, column: str) -> float | None:
    value = row.get(column) if hasattr(row, "get") else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def eta_of(row) -> float | None:
    """The measurement noise eta of an inverse run (flattened spec column task_params_eta), None for other runs."""
    return _number(row, "task_params_eta") if str(row.get("task", "uncond")) != "uncond" else None


def step_scale_of(row) -> float:
    """A run's step_scale (params_step_scale; 1, the published setting, where the run has none)."""
    value = _number(row, "params_step_scale")
    return 1.0 if value is None else value


def eta_text(eta: float | None) -> str:
    """'eta = 0.05' (panel titles and legend entries of inverse runs; '' without an eta)."""
    return "" if eta is None else f"eta = {label(float(eta))}"


def step_scale_text(row) -> str:
    """'step_scale = 2' for a run off its sampler's published step (step_scale != 1), else ''."""
    scale = step_scale_of(row)
    return "" if scale == 1.0 else f"step_scale = {label(scale)}"


def inverse_axes_text(row, eta: bool = True) -> str:
    """eta (when `eta`) and step_scale != 1 of a run, comma-separated ('eta = 0.05, step_scale = 2'; '' when neither)."""
    parts = [eta_text(eta_of(row)) if eta else "", step_scale_text(row)]
    return ", ".join(p for p in parts if p)


def first_images(run_dir: Path, n: int = SHOWN) -> torch.Tensor | None:
    """`sample_uint8` of the first shard, first n images ([n, C, H, W] uint8), or None when the run has no shard."""
    files = rundir.shard_files(run_dir)
    if not files:
        return None
    shard = rundir.load_shard(files[0])
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
    drawn: dict = field(default_factory=dict)   # stem -> {"panels", "width_px", "draws"} of every saved figure

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
        return pool_seeds(selected.reset_index(drop=True), set(self.metrics["metric"].astype(str)))

    def run_dir(self, run_id: str) -> Path:
        """results/runs/<run_id>."""
        return self.runs_dir / str(run_id)

    def note(self, text: str) -> None:
        """Record a one-line note (a run or part of a figure that was skipped)."""
        self.notes.append(text)

    def save_figure(self, fig, stem: str, draws=()) -> list[Path]:
        """Write reports/figures/<stem>.<fmt> for every format atomically and close the figure. `draws`: the metrics
        (registry names) its panels show (the caption test reads them). A figure keeps rwbench.figures.style's limits:
        a wider one is saved at a lower dpi (and noted), one with more than MAX_PANELS panels is noted."""
        written = []
        try:
            n_panels = len(style.panels(fig))
            dpi, width_in = style.save_dpi(fig)
            if dpi < style.DPI:
                self.note(f"{stem}: {width_in:.1f} in wide; saved at {dpi} dpi to stay within {style.MAX_WIDTH_PX} px")
            if n_panels > style.MAX_PANELS:
                self.note(f"{stem}: {n_panels} panels (more than {style.MAX_PANELS}); split it in rwbench.plan.figures")
            self.drawn[stem] = {"panels": n_panels, "width_px": int(width_in * dpi), "draws": tuple(draws)}
            for fmt in self.formats:
                path = self.out / "figures" / f"{stem}.{fmt}"
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.05)
                written.append(path)
        finally:
            plt.close(fig)
        return written

    def save_table(self, frame: pd.DataFrame, stem: str, markdown: pd.DataFrame | None = None) -> list[Path]:
        """Write reports/tables/<stem>.csv (all numbers), .md and .html (`markdown` if given: a compact view; the HTML
        page is what the Snakemake report shows inline) atomically."""
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


def interval_bounds(row, metric: str) -> tuple[float, float] | None:
    """95 % interval of a metric in a run row: <m>_ci_lo/_ci_hi (metrics.csv columns), <m>_ci95_lo/_hi, else +- 1.96 se."""
    get = row.get if hasattr(row, "get") else (lambda k, d=np.nan: getattr(row, k, d))
    for lo_key, hi_key in ((f"{metric}_ci_lo", f"{metric}_ci_hi"), (f"{metric}_ci95_lo", f"{metric}_ci95_hi")):
        lo, hi = get(lo_key, np.nan), get(hi_key, np.nan)
        if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
            return float(lo), float(hi)
    se, value = get(f"{metric}_se", np.nan), get(metric, np.nan)
    if se is not None and np.isfinite(se) and np.isfinite(value):
        return float(value - 1.96 * se), float(value + 1.96 * se)
    return None


def interval_errors(row, metric: str):
    """matplotlib yerr [[below], [above]] of interval_bounds (None when the run has no interval for the metric)."""
    bounds = interval_bounds(row, metric)
    value = row.get(metric, np.nan) if hasattr(row, "get") else np.nan
    if bounds is None or not np.isfinite(value):
        return None
    return [[max(0.0, value - bounds[0])], [max(0.0, bounds[1] - value)]]


def interval_columns(runs: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Vectorised interval_bounds over the rows of `runs` (NaN where a run has none); None when no run has one."""
    bounds = [interval_bounds(r, metric) for _, r in runs.iterrows()]
    if all(b is None for b in bounds):
        return None
    lo = np.array([b[0] if b else np.nan for b in bounds])
    hi = np.array([b[1] if b else np.nan for b in bounds])
    return lo, hi


def read_floors(tables_dir: Path) -> pd.DataFrame | None:
    """results/floors.csv (`rwbench floors`, read by rwbench.run.rundir.read_floors) next to the tables folder, or None."""
    path = Path(tables_dir).parent / "floors.csv"
    return rundir.read_floors(path) if path.is_file() else None


def reference_labels(ctx: "Context", runs: pd.DataFrame, metric: str) -> set[str]:
    """The `reference` labels the runs' `metric` rows were scored against (to pick their floors)."""
    m = ctx.metrics
    if "reference" not in m.columns:
        return set()
    rows = m[(m["metric"] == metric) & m["run_id"].isin(set(runs["run_id"]))]
    return set(rows["reference"].dropna().astype(str))


def draw_floor(ax, floors: pd.DataFrame | None, metric: str, n=None, references=None) -> bool:
    """Shade mean +- sd of each floor of `metric` at the cells' n (and references) as a horizontal band."""
    if floors is None:
        return False
    part = floors[floors["metric"] == metric]
    if n is not None and "n" in part.columns:
        part = part[part["n"] == int(n)]
    if references is not None and "reference" in part.columns:
        part = part[part["reference"].astype(str).isin(set(references))]
    for i, row in enumerate(part.itertuples()):
        source = str(getattr(row, "source", "floor"))
        ax.axhspan(row.mean - row.sd, row.mean + row.sd, color=style.FLOOR_COLOR, alpha=0.18 + 0.1 * (i % 2), lw=0,
                   label=f"floor {source} (mean +- sd, n = {getattr(row, 'n', '?')})")
    return len(part) > 0


def metric_points(ctx: "Context", runs: pd.DataFrame, metrics: list[str], x: str, stem: str, hue: str | None = None):
    """One panel per metric (at most MAX_PANELS): value with its 95 % interval per category of `x` (config order),
    colour per `hue` value, floors as bands; writes <stem>.png/.pdf and returns the files (a panel saying so when no
    metric has a value)."""
    metrics = [m for m in metrics if m in runs.columns and np.isfinite(runs[m].astype(float)).any()][:style.MAX_PANELS]
    if not metrics:     # the file is a declared output of the figure rule: write it, saying why it is empty
        fig, ax = plt.subplots(figsize=(4.0, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no metric values for these runs (diverged or not evaluated)", ha="center", fontsize=8)
        return ctx.save_figure(fig, stem)
    cats = list(dict.fromkeys(runs[x].astype(str)))
    hues = list(dict.fromkeys(runs[hue].astype(str))) if hue else [None]
    colors = style.series_colors(hues)
    floors = read_floors(ctx.tables_dir)
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    each = min(max(3.0, 0.8 * len(cats) + 1.4), style.MAX_WIDTH_IN / ncols - 0.3)
    fig, axes = plt.subplots(nrows, ncols, figsize=(each * ncols, 3.1 * nrows), squeeze=False)
    width = 0.7 / len(hues)
    for ax, metric in zip(axes.ravel(), metrics):
        for h, name in enumerate(hues):
            part = runs if name is None else runs[runs[hue].astype(str) == name]
            for _, row in part.iterrows():
                pos = cats.index(str(row[x])) + (h - (len(hues) - 1) / 2) * width
                ax.errorbar([pos], [row[metric]], yerr=interval_errors(row, metric), fmt="o", ms=4, capsize=3,
                            color=colors[name], label=name if name is not None else "95 % interval")
        n = runs["n_images"].iloc[0] if "n_images" in runs.columns and runs["n_images"].nunique() == 1 else None
        draw_floor(ax, floors, metric, n, reference_labels(ctx, runs, metric))
        ax.set_xticks(range(len(cats)), cats, rotation=20, ha="right", fontsize=7)
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(metric_label(metric))
        ax.set_title(metric_label(metric, unit=False))
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=6)
    for ax in axes.ravel()[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    return ctx.save_figure(fig, stem, draws=metrics)


BOUND_SUFFIXES = ("_se", "_ci95_lo", "_ci95_hi", "_ci_lo", "_ci_hi")


def pool_seeds(runs: pd.DataFrame, metric_names: set[str]) -> pd.DataFrame:
    """One row per cell when a figure's runs replicate a cell over seeds: each metric's mean over the seeds with the
    t interval over seeds (S - 1 df) as <m>_ci95_lo / _hi and <m>_se; `n_seeds`, `run_ids`; run_id = the first seed's."""
    from rwbench.metrics import intervals as iv

    if "seed" not in runs.columns or runs["seed"].nunique() < 2:
        return runs
    metric_cols = {c for c in runs.columns if c in metric_names or c.endswith(BOUND_SUFFIXES)}
    keys = [c for c in runs.columns if c not in metric_cols and c not in ("run_id", "seed", "diverged_run")]
    key = pd.Series(["|".join(map(str, values)) for values in runs[keys].itertuples(index=False)], index=runs.index)
    rows = []
    for _, part in runs.groupby(key, sort=False):
        row = part.iloc[0].copy()
        row["n_seeds"], row["run_ids"] = len(part), ";".join(part["run_id"].astype(str))
        if len(part) > 1:
            for m in [c for c in part.columns if c in metric_names]:
                values = part[m].astype(float).to_numpy()
                values = values[np.isfinite(values)]
                row[m] = float(values.mean()) if len(values) else np.nan
                for suffix in BOUND_SUFFIXES:
                    if f"{m}{suffix}" in row.index:
                        row[f"{m}{suffix}"] = np.nan
                if len(values) >= 2:
                    t = iv.t_interval(float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))),
                                      len(values) - 1, len(values))
                    row[f"{m}_se"], row[f"{m}_ci95_lo"], row[f"{m}_ci95_hi"] = t.se, t.lo, t.hi
            row["diverged_run"] = bool(part["diverged_run"].all())
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)


def montage(tiles: list[list[np.ndarray | None]], pad: int = 2, fill: int | float = 255) -> tuple[np.ndarray, list, list]:
    """Tile images (uint8 or [0, 1] float, H x W or H x W x C) given as rows of cells into one array with `pad` pixels
    between cells (None: an empty cell); returns (array, column centres, row centres) in pixels for tick labels."""
    cells = [t for row in tiles for t in row if t is not None]
    if not cells:
        raise ValueError("montage: no images")
    as_float = any(c.dtype != np.uint8 for c in cells)
    channels = max(c.shape[2] if c.ndim == 3 else 1 for c in cells)
    heights = [max([t.shape[0] for t in row if t is not None] or [0]) for row in tiles]
    widths = [max([row[j].shape[1] for row in tiles if j < len(row) and row[j] is not None] or [0])
              for j in range(max(len(r) for r in tiles))]
    H, W = sum(heights) + pad * (len(heights) + 1), sum(widths) + pad * (len(widths) + 1)
    value = (fill / 255.0 if as_float and fill > 1 else fill)
    canvas = np.full((H, W, channels), value, dtype=np.float64 if as_float else np.uint8)
    tops = np.cumsum([pad] + [h + pad for h in heights[:-1]])
    lefts = np.cumsum([pad] + [w + pad for w in widths[:-1]])
    for i, row in enumerate(tiles):
        for j, tile in enumerate(row):
            if tile is None:
                continue
            t = tile.astype(np.float64) / 255.0 if as_float and tile.dtype == np.uint8 else tile
            t = t[..., None] if t.ndim == 2 else t
            t = np.repeat(t, channels, axis=2) if t.shape[2] != channels else t
            canvas[tops[i]:tops[i] + t.shape[0], lefts[j]:lefts[j] + t.shape[1]] = t
    canvas = canvas[..., 0] if channels == 1 else canvas
    return canvas, [l + w / 2 for l, w in zip(lefts, widths)], [t + h / 2 for t, h in zip(tops, heights)]


def show_montage(ax, tiles, column_labels=(), row_labels=(), title: str = "", fontsize: int = 6) -> None:
    """One panel of a montage (rwbench.figures.common.montage) with its columns and rows labelled in words."""
    array, xs, ys = montage(tiles)
    vmax = 255 if array.dtype == np.uint8 else 1.0
    if array.ndim == 2:
        ax.imshow(array, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    else:
        ax.imshow(array, interpolation="nearest")
    ax.grid(False)
    ax.set_xticks(xs[:len(column_labels)], list(column_labels), fontsize=fontsize, rotation=30 if len(column_labels)
                  > 4 else 0, ha="right" if len(column_labels) > 4 else "center")
    ax.set_yticks(ys[:len(row_labels)], list(row_labels), fontsize=fontsize)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=8)


def image_panels(ctx: "Context", grids: list[np.ndarray], titles: list[str], stem: str, suptitle: str) -> list[Path]:
    """Sample grids side by side, one panel each (at most MAX_PANELS: more become one montage labelled under each
    grid); writes <stem>."""
    if len(grids) <= style.MAX_PANELS:
        fig, axes = plt.subplots(1, len(grids), figsize=(min(2.6 * len(grids), style.MAX_WIDTH_IN), 3.2),
                                 squeeze=False)
        for ax, grid, title in zip(axes[0], grids, titles):
            show_image(ax, grid, title)
    else:
        fig, ax = plt.subplots(figsize=(min(1.6 * len(grids), style.MAX_WIDTH_IN), 3.0))
        show_montage(ax, [grids], titles, (), suptitle)
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return ctx.save_figure(fig, stem)
