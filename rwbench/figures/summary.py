"""The report's front page: what was run (experiments, models, samplers, image counts) and the headline comparisons
(reports/tables/comparisons.csv when the statistics step wrote it, else the best and worst cell per experiment)."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from rwbench.io import atomic_write, html_cell

# headline metric per task kind and whether lower is better
HEADLINE = {"uncond": ("fid", True), "inverse": ("psnr", False)}
MAX_COMPARISONS = 40   # rows of comparisons.csv shown on the front page (the table itself has all of them)
# columns of rwbench.analysis.compare's table shown on the front page (the full table is under Comparisons)
FRONT_COLUMNS = ["experiment", "axis", "context", "a", "b", "metric", "n_seeds", "difference", "ci_lo", "ci_hi",
                 "decision", "better_arm", "margin", "equivalence"]
DECIDED = ("a < b", "a > b")


def front_comparisons(frame: pd.DataFrame) -> pd.DataFrame:
    """rwbench.analysis.compare's table for the front page: decided differences first, then equivalence tests, then the
    undecided rest (each in table order), in FRONT_COLUMNS; another table is shown as it is."""
    if not {"kind", "decision", "difference"} <= set(frame.columns):
        return frame
    rank = frame["decision"].isin(DECIDED).map({True: 0, False: 2}).where(frame["kind"] != "equivalence", 1)
    order = frame.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank")
    return order[[c for c in FRONT_COLUMNS if c in order.columns]]


def _table(frame: pd.DataFrame, caption: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "\n".join("<tr>" + "".join(f"<td>{html_cell(v)}</td>" for v in r) + "</tr>"
                     for r in frame.itertuples(index=False))
    return (f"<table class='rwbench-summary'><caption>{html.escape(caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _join(values) -> str:
    return ", ".join(sorted({str(v) for v in values if isinstance(v, str) or not math.isnan(v)}))


def what_was_run(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment: figure, runs, models, samplers, tasks, images (n_images summed over its runs)."""
    rows = []
    for name, part in runs.groupby("experiment", sort=True):
        rows.append({"experiment": name, "figure": _join(part.get("figure", [])), "runs": len(part),
                     "models": _join(part.get("model", [])), "samplers": _join(part.get("sampler", [])),
                     "tasks": _join(part.get("task", [])),
                     "images": int(pd.to_numeric(part.get("n_images", pd.Series(dtype=float))).fillna(0).sum())})
    return pd.DataFrame(rows)


def headline(runs: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and task kind: the best and the worst run by FID (unconditional) or PSNR (inverse)."""
    rows = []
    kind = runs.get("task", pd.Series("uncond", index=runs.index)).astype(str).map(
        lambda t: "uncond" if t == "uncond" else "inverse")
    for (experiment, k), part in runs.assign(kind=kind).groupby(["experiment", "kind"], sort=True):
        metric, lower = HEADLINE[k]
        if metric not in part.columns:
            continue
        ok = part[pd.to_numeric(part[metric], errors="coerce").notna()].sort_values(metric, ascending=lower)
        if ok.empty:
            continue
        best, worst = ok.iloc[0], ok.iloc[-1]
        rows.append({"experiment": experiment, "metric": metric + (" (lower is better)" if lower else " (higher is better)"),
                     "best": float(best[metric]), "best run": best["run_id"],
                     "worst": float(worst[metric]), "worst run": worst["run_id"], "runs": len(ok)})
    return pd.DataFrame(rows)


def failed_table(failed: list[dict]) -> pd.DataFrame:
    """One row per failed run and stage (rwbench.plan.failures records): run, stage, exit code, error, log."""
    rows = []
    for record in failed:
        first = (record.get("failures") or [{}])[0]
        rows.append({"run": record.get("run_id"), "stage": record.get("stage"), "exit code": first.get("exit_code"),
                     "error": first.get("error") or "", "commands failed": len(record.get("failures") or []),
                     "log": record.get("log") or ""})
    return pd.DataFrame(rows, columns=["run", "stage", "exit code", "error", "commands failed", "log"])


def summary_html(runs: pd.DataFrame, comparisons: Path | None = None, config: str = "",
                 failed: list[dict] = ()) -> str:
    """The front-page HTML fragment (no <html> wrapper: the report's front page includes it); failed cells, when
    any, come first."""
    n_images = int(pd.to_numeric(runs.get("n_images", pd.Series(dtype=float))).fillna(0).sum())
    parts = ["<div class='rwbench-front'>"]
    if failed:
        parts += [f"<h2>Failed cells</h2><p>{len(failed)} run stage(s) failed; every table and figure leaves these "
                  "runs out. Each run's <code>FAILED-&lt;stage&gt;.json</code> and the job log say why; fix the "
                  "cause and run <code>snakemake</code> again.</p>",
                  _table(failed_table(list(failed)), "failed cells")]
    parts += [f"<h2>What was run</h2><p>{len(runs)} runs, {n_images} images"
              + (f", config <code>{html.escape(config)}</code>" if config else "")
              + ". Every run's resolved parameters are under <b>Runs</b>; figures and their tables under "
                "<b>Figures</b> and <b>Tables</b>.</p>",
              _table(what_was_run(runs), "experiments")]
    parts.append("<h2>Headline comparisons</h2>")
    if comparisons is not None and Path(comparisons).is_file():
        frame = front_comparisons(pd.read_csv(comparisons))
        note = (f" (first {MAX_COMPARISONS} of {len(frame)} rows, decided ones first)" if len(frame) > MAX_COMPARISONS
                else "")
        parts.append(f"<p>From <code>{html.escape(str(comparisons))}</code>{note}.</p>")
        parts.append(_table(frame.head(MAX_COMPARISONS), "comparisons"))
    else:
        parts.append("<p>Best and worst run per experiment (one seed per cell: differences carry no error bars "
                     "here; the statistics step writes reports/tables/comparisons.csv with them).</p>")
        parts.append(_table(headline(runs), "best and worst run per experiment"))
    parts.append("</div>")
    return "\n".join(parts) + "\n"


def write_summary(runs: pd.DataFrame, out: Path, config: str = "", runs_dir: Path | None = None) -> Path:
    """Write <out>/summary.html, reading <out>/tables/comparisons.csv if present and the failure records of the runs
    under `runs_dir` (rwbench.plan.failures)."""
    from rwbench.plan.failures import failed_runs

    failed = failed_runs(sorted(p for p in Path(runs_dir).iterdir() if p.is_dir())) if runs_dir and Path(
        runs_dir).is_dir() else []
    path = Path(out) / "summary.html"
    with atomic_write(path, "w") as handle:
        handle.write(summary_html(runs, Path(out) / "tables" / "comparisons.csv", config, failed))
    return path
