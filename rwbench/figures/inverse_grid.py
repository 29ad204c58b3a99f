"""Inverse-problem grid of the oracle posterior: per task (rows) the ground truth, the measurement (A^T y / A^T A 1),
the exact posterior mean and one exact draw, then each sampler's mean of the N draws of target 0 and one draw, at one
NFE budget. Never two noise levels side by side without saying so: one figure per eta (benchmark) or eta in every row
label (DAG).

Two sources, one flat image dict `<task>/eta=<eta>/<what>` and one plotting function (draw):
- the DAG extra `calibration-grid` of the figure `calibration` (build_runs): the runs' shards (exact_mmse, exact_draw,
  the samples of target 0) and the operator rebuilt from the run's spec (rwbench.tasks.measure.task_operator), each sampler at
  its largest NFE with step_scale 1;
- `python -m rwbench.figures.inverse_grid IMAGES OUT_DIR` from rwbench.tools.bench.posterior --images.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from rwbench.run import rundir  # noqa: E402
from rwbench.figures.common import line_labels, line_sort_key  # noqa: E402
from rwbench.io import atomic_path  # noqa: E402

KEY = re.compile(r"^(?P<task>[^/]+)/eta=(?P<eta>[^/]+)/(?P<rest>.+)$")
FIXED = [("truth", "truth"), ("measurement", "A^T y / A^T A 1"), ("exact_mean", "exact mean"),
         ("exact_draw", "exact draw")]


def parse(images: dict) -> dict:
    """{eta: {task: {column: image}}} from the flat keys task/eta=E/<what>."""
    out: dict = {}
    for key, value in images.items():
        m = KEY.match(key)
        if m is None:
            raise ValueError(f"images: unexpected key {key!r}; expected task/eta=E/<image>")
        out.setdefault(float(m["eta"]), {}).setdefault(m["task"], {})[m["rest"]] = value
    return out


def _shown(rows: list[tuple[str, dict]], nfe: int | None, sweep: float) -> dict[tuple[str, str], int]:
    """Per row label and sampler, the NFE shown: `nfe`, or the largest it has (None)."""
    shown: dict[tuple[str, str], int] = {}
    for label, imgs in rows:
        for r in imgs:
            parts = r.split("/")
            if len(parts) == 4 and parts[2] == f"sweep={sweep}":
                k = int(parts[1].split("=")[1])
                if (nfe is None and k > shown.get((label, parts[0]), 0)) or k == nfe:
                    shown[(label, parts[0])] = k
    return shown


def draw(rows: list[tuple[str, dict]], nfe: int | None, sweep: float, title: str):
    """The grid as one panel: one row per (label, {column: [C, H, W] image on [0, 1]}); columns FIXED then mean and
    draw per sampler (first-appearance order) at `nfe` forward NFE (None: each at its largest, written on its images)."""
    from rwbench.figures.common import montage, show_montage, unit_image

    shown = _shown(rows, nfe, sweep)
    names = list(dict.fromkeys(n for _, n in shown))
    if not names:
        raise ValueError(f"images: no sampler images at nfe={nfe}, sweep={sweep}")
    cols = FIXED + [((n, w), f"{n} {w}") for n in names for w in ("mean", "draw")]
    tiles, notes = [], []
    for label, imgs in rows:
        row, row_notes = [], []
        for key, _ in cols:
            note = ""
            if isinstance(key, tuple):
                k = shown.get((label, key[0]))
                key = None if k is None else f"{key[0]}/nfe={k}/sweep={sweep}/{key[1]}"
                note = f"{k} NFE" if k is not None and nfe is None else ""
            row.append(unit_image(imgs[key].double()) if key in imgs else None)
            row_notes.append(note if key in imgs else "")
        tiles.append(row)
        notes.append(row_notes)
    fig, ax = plt.subplots(figsize=(min(0.75 * len(cols) + 1.2, 16.0), 0.8 * len(rows) + 1.4))
    show_montage(ax, tiles, [name for _, name in cols], [label.replace("\n", ", ") for label, _ in rows],
                 "ground truth, measurement, exact posterior and each sampler's mean and draw", fontsize=6)
    _, xs, ys = montage(tiles)
    for i, row_notes in enumerate(notes):
        for j, note in enumerate(row_notes):
            if note:
                ax.text(xs[j], ys[i], note, ha="center", va="center", fontsize=4, color="yellow",
                        bbox={"facecolor": "black", "alpha": 0.45, "pad": 0.3, "lw": 0})
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def build(images: dict, out_dir: str | Path, *, nfe: int | None, sweep: float = 1.0, stem: str = "posterior-grid",
          formats=("png",)) -> list[Path]:
    """Benchmark images: write <stem>-eta<eta>.<fmt> per eta (rows: tasks) at `nfe` forward NFE (None: each sampler at
    the largest NFE it has, e.g. its published one)."""
    out_dir = Path(out_dir)
    written = []
    for eta, tasks in sorted(parse(images).items()):
        budget = f"{nfe} forward NFE per sampler" if nfe else "each sampler at its own NFE (under each image)"
        try:
            fig = draw(sorted(tasks.items()), nfe, sweep, f"Oracle posterior, eta = {eta:g} on [0, 1], {budget}")
        except ValueError as err:
            raise ValueError(f"{err} for eta={eta}") from None
        for fmt in formats:
            path = out_dir / f"{stem}-eta{eta:g}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=130, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


def measurement_image(spec: dict, y: torch.Tensor, target: int) -> torch.Tensor:
    """A^T y / A^T A 1 of target `target` on [0, 1] (each pixel's weighted average of the measurements it enters; 0
    where none), with the operator rebuilt from the run's spec; y [1, ...] on the model's data scale."""
    from rwbench.tasks.measure import task_operator

    tp = {k: v for k, v in (spec.get("task_params") or {}).items() if k != "eta"}
    op = task_operator(spec["task"], int(spec["seed"]), [target], **tp)
    shape = (1, int(spec["channels"]), int(spec["resolution"]), int(spec["resolution"]))
    weight = op.AT(op.A(torch.ones(shape, dtype=torch.float64)))
    shown = op.AT(y.to(torch.float64)) / weight.clamp(min=1e-12)
    lo, hi = (float(v) for v in spec["data_range"])
    return torch.where(weight > 1e-12, (shown - lo) / (hi - lo), torch.zeros_like(shown))[0]


def build_runs(ctx, runs, target: int = 0) -> list[Path]:
    """DAG extra `calibration-grid` (draw on grid_rows)."""
    fig = draw(grid_rows(ctx, runs, target), None, 1.0, f"Oracle posterior, target {target}: each sampler at its "
               "largest NFE (under each image), step_scale 1; eta on [0, 1] per row")
    return ctx.save_figure(fig, "calibration-grid")


def grid_rows(ctx, runs, target: int = 0) -> list[tuple[str, dict]]:
    """Rows (eta, task) of the DAG grid for target `target`: each line of the calibration figure (runs' `line`
    labels, else the sampler) at its largest NFE; the fixed columns from that row's first run."""
    runs = runs.copy()
    runs["eta"] = runs["task_params_eta"].astype(float) if "task_params_eta" in runs.columns else float("nan")
    if "line" not in runs.columns:
        runs["line"] = line_labels(runs)
    rows = []
    for (eta, task), part in runs.groupby(["eta", "task"], sort=True, dropna=False):
        imgs: dict = {}
        for line in sorted(part["line"].unique(), key=line_sort_key):     # the calibration figure's line order
            mine = part[part["line"] == line]
            best = mine.loc[mine["nfe"].astype(float).idxmax()]
            spec = rundir.read_spec(ctx.run_dir(best["run_id"]))
            _, data = rundir.load_shards(ctx.run_dir(best["run_id"]), allow_partial=True)
            member = data["target"] == target
            ok = member & ~data["diverged"]
            if not member.any():
                ctx.note(f"calibration-grid: run {best['run_id']} has no image of target {target}")
                continue
            first = int(torch.nonzero(member)[0, 0])
            if not imgs:                 # truth, measurement and the exact posterior: shared by the row's runs
                imgs["truth"] = data["ground_truth"][first]
                imgs["measurement"] = measurement_image(spec, data["measurement"][first:first + 1], target)
                for key, column in (("exact_mmse", "exact_mean"), ("exact_draw", "exact_draw")):
                    if key in data:
                        imgs[column] = data[key][first]
            if ok.any():
                k = int(best["nfe"])
                imgs[f"{line}/nfe={k}/sweep=1.0/mean"] = data["sample"][ok].double().mean(0)
                imgs[f"{line}/nfe={k}/sweep=1.0/draw"] = data["sample"][ok][0]
        label = f"{task}\neta={eta:g}" if pd.notna(eta) else str(task)
        rows.append((label, imgs))
    return rows


def main(argv: list[str] | None = None) -> int:
    """python -m rwbench.figures.inverse_grid IMAGES OUT_DIR [--nfe N] [--sweep 1.0]"""
    p = argparse.ArgumentParser(prog="python -m rwbench.figures.inverse_grid", description=__doc__)
    p.add_argument("images")
    p.add_argument("out_dir")
    p.add_argument("--nfe", type=int, default=None,
                   help="forward NFE of the sampler columns (default: each its largest)")
    p.add_argument("--sweep", type=float, default=1.0)
    args = p.parse_args(argv)
    path = Path(args.images)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no benchmark images; run `python -m rwbench.tools.bench posterior --images {path}`")
    from safetensors.torch import load_file

    for written in build(load_file(str(path)), args.out_dir, nfe=args.nfe, sweep=args.sweep):
        print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
