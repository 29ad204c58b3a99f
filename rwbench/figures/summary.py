"""The report's front page: the claims ledger (reports/claims.csv when it exists: one line per claim, supported /
contradicted / undecided with its estimate and interval) and the figures that carry the claims, each with its caption
(rwbench.plan.figures); the diverged runs with their cells and the failed cells; then the raw tables: what was run
(experiments, models, samplers, image counts) and the headline comparisons (reports/tables/comparisons.csv when the
statistics step wrote it, else the best and worst cell per experiment)."""

from __future__ import annotations

import base64
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
# reports/claims.csv (the claims ledger): its columns, and the decisions in the order the front page lists them
CLAIM_COLUMNS = ["claim", "title", "question", "metric", "a_runs", "b_runs", "estimate", "ci_lo", "ci_hi", "margin",
                 "decision", "n", "seeds", "method", "power", "figure"]
DECISIONS = ("supported", "contradicted", "undecided")
DECISION_COLOR = {"supported": "#1a7f37", "contradicted": "#b42318", "undecided": "#6e6e6e"}
# cell columns of a diverged run on the front page (those present)
CELL_COLUMNS = ["experiment", "model", "sampler", "schedule", "steps", "nfe", "task", "task_params_eta", "params_c",
                "params_T0", "params_TK", "params_step_scale", "seed"]


def read_claims(path: Path) -> pd.DataFrame | None:
    """reports/claims.csv, or None when it does not exist; a ledger without the needed columns or with a decision
    outside supported / contradicted / undecided is an error naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype={"figure": str, "claim": str})
    missing = [c for c in ("claim", "title", "estimate", "ci_lo", "ci_hi", "decision") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: the claims ledger lacks column(s) {', '.join(missing)}; it needs "
                         f"{', '.join(CLAIM_COLUMNS)} (regenerate it)")
    bad = sorted(set(frame["decision"].astype(str)) - set(DECISIONS))
    if bad:
        raise ValueError(f"{path}: decision(s) {', '.join(bad)} are not one of {', '.join(DECISIONS)}")
    return frame


def _number(value) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    return "&ndash;" if math.isnan(value) else f"{value:.4g}"


def claims_html(claims: pd.DataFrame) -> str:
    """The ledger, one line per claim in ledger order: decision (coloured), claim and title, estimate [interval], margin,
    metric, n and seeds, the figure carrying it; with a count per decision above it."""
    counts = claims["decision"].astype(str).value_counts()
    head = ", ".join(f"{int(counts.get(d, 0))} {d}" for d in DECISIONS)
    rows = []
    for _, c in claims.iterrows():
        decision = str(c["decision"])
        interval = f"{_number(c['estimate'])} [{_number(c['ci_lo'])}, {_number(c['ci_hi'])}]"
        extra = " ".join(t for t in (f"margin {_number(c['margin'])}" if "margin" in c and pd.notna(c["margin"]) else "",
                                     f"({html.escape(str(c['metric']))})" if "metric" in c and pd.notna(c["metric"])
                                     else "") if t)
        sample = ", ".join(t for t in (f"n = {_number(c['n'])}" if "n" in c and pd.notna(c["n"]) else "",
                                       f"seeds {html.escape(str(c['seeds']))}" if "seeds" in c and pd.notna(c["seeds"])
                                       else "") if t)
        figure = str(c["figure"]) if "figure" in c and pd.notna(c["figure"]) and str(c["figure"]).strip() else ""
        link = f"<a href='#figure-{html.escape(figure)}'>{html.escape(figure)}</a>" if figure else ""
        rows.append(f"<tr><td style='color:{DECISION_COLOR[decision]};font-weight:bold'>{decision}</td>"
                    f"<td>{html.escape(str(c['claim']))}</td><td>{html.escape(str(c['title']))}</td>"
                    f"<td>{interval}</td><td>{extra}</td><td>{sample}</td>"
                    f"<td>{link}</td></tr>")
    return (f"<p>{head}.</p><table class='rwbench-summary rwbench-claims'><caption>claims ledger</caption><thead><tr>"
            "<th>decision</th><th>claim</th><th>title</th><th>estimate [95 % interval]</th><th>margin (metric)</th>"
            "<th>sample</th><th>figure</th></tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")


def figures_html(names: list[str], figures_dir: Path) -> str:
    """Each figure named (the ledger's `figure` values, in ledger order) as an embedded PNG with its caption (the
    figure table's); a figure not drawn is named with a note."""
    from rwbench.figures.captions import caption

    parts = []
    for name in names:
        png = Path(figures_dir) / f"{name}.png"
        text = html.escape(caption(name)).replace("**", "")
        if png.is_file():
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(f"<figure id='figure-{html.escape(name)}'><img style='max-width:100%' alt='{html.escape(name)}'"
                         f" src='data:image/png;base64,{data}'/><figcaption><b>{html.escape(name)}</b>: {text}"
                         "</figcaption></figure>")
        else:
            parts.append(f"<p id='figure-{html.escape(name)}'><b>{html.escape(name)}</b>: not drawn in this run "
                         f"({html.escape(str(png))} is missing). {text}</p>")
    return "\n".join(parts)


def _plain(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def diverged_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with any diverged image (diverged_fraction > 0, or a `diverged` row): run, its cell (CELL_COLUMNS present),
    diverged images (fraction x n_images) and the fraction, most diverged first."""
    fraction = pd.to_numeric(runs.get("diverged_fraction", pd.Series(0.0, index=runs.index)), errors="coerce")
    flag = pd.to_numeric(runs.get("diverged", pd.Series(0.0, index=runs.index)), errors="coerce").fillna(0) > 0
    hit = runs[(fraction.fillna(0) > 0) | flag]
    if hit.empty:
        return pd.DataFrame(columns=["run", "cell", "diverged images", "diverged fraction"])
    rows = []
    for i, r in hit.iterrows():
        cell = ", ".join(f"{c.replace('task_params_', '').replace('params_', '')}={_plain(r[c])}" for c in CELL_COLUMNS
                         if c in hit.columns and pd.notna(r[c]) and str(r[c]) != "")
        n = pd.to_numeric(pd.Series([r.get("n_images")]), errors="coerce").iloc[0]
        f = float(fraction.loc[i]) if pd.notna(fraction.loc[i]) else math.nan
        rows.append({"run": r["run_id"], "cell": cell,
                     "diverged images": int(round(f * n)) if pd.notna(n) and pd.notna(f) else "",
                     "diverged fraction": f})
    return pd.DataFrame(rows).sort_values("diverged fraction", ascending=False, kind="stable")


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
                 failed: list[dict] = (), claims: Path | None = None, figures_dir: Path | None = None) -> str:
    """The front-page HTML fragment (no <html> wrapper: the report's front page includes it): the claims ledger and
    the figures that carry the claims (with their captions), the diverged runs and the failed cells, then the raw
    tables (what was run, the headline comparisons)."""
    n_images = int(pd.to_numeric(runs.get("n_images", pd.Series(dtype=float))).fillna(0).sum())
    parts = ["<div class='rwbench-front'>", "<h2>Claims</h2>"]
    ledger = read_claims(claims) if claims is not None else None
    if ledger is None:
        parts.append("<p>No claims ledger yet (<code>claims.csv</code> next to this page is written by the claims "
                     "step); the raw tables below hold every number.</p>")
    elif ledger.empty:
        parts.append(f"<p>The claims ledger <code>{html.escape(str(claims))}</code> has no rows.</p>")
    else:
        parts.append(f"<p>From <code>{html.escape(str(claims))}</code> (the reasoning per claim: "
                     "<code>claims.md</code>).</p>")
        parts.append(claims_html(ledger))
        names = [str(f) for f in ledger.get("figure", pd.Series(dtype=str)).dropna() if str(f).strip()]
        names = list(dict.fromkeys(names))
        if names and figures_dir is not None:
            parts += ["<h2>Figures that carry the claims</h2>", figures_html(names, figures_dir)]
    diverged = diverged_runs(runs)
    parts.append("<h2>Diverged runs</h2>")
    if diverged.empty:
        parts.append("<p>No run has a diverged image.</p>")
    else:
        parts.append(f"<p>{len(diverged)} run(s) have diverged images (non-finite, or far outside the data range); "
                     "their metrics use the finite images only, and a run whose images all diverged is left out of "
                     "the figures.</p>")
        parts.append(_table(diverged, "diverged runs and their cells"))
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
    """Write <out>/summary.html, reading <out>/claims.csv and <out>/tables/comparisons.csv if present, the figures in
    <out>/figures and the failure records of the runs under `runs_dir` (rwbench.plan.failures)."""
    from rwbench.plan.failures import failed_runs

    failed = failed_runs(sorted(p for p in Path(runs_dir).iterdir() if p.is_dir())) if runs_dir and Path(
        runs_dir).is_dir() else []
    path = Path(out) / "summary.html"
    with atomic_write(path, "w") as handle:
        handle.write(summary_html(runs, Path(out) / "tables" / "comparisons.csv", config, failed,
                                  claims=Path(out) / "claims.csv", figures_dir=Path(out) / "figures"))
    return path
