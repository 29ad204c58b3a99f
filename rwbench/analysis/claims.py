"""The claims ledger: every declared claim (config `claims:`, rwbench.plan.claims) evaluated on the runs of the last DAG
run with the procedure its metric fixes, decided against its declared question and margin, one row per claim
(reports/claims.csv, reports/claims.md).

Procedures (one per metric; their coverage is simulated on the exact oracle by rwbench.tools.coverage and tabled in
docs/statistics.md):
- energy_distance (oracle cells, to the exact reference draws): the difference of two U-statistics, paired image by
  image (shared per-image seeds), with the unbiased U-statistic variance over images and reference draws
  (rwbench.metrics.ustat.energy_difference via rwbench.analysis.compare.energy_interval), normal quantiles; several
  seeds pooled by their within-seed variances (never a t over few seeds).
- variance_ratio (oracle cells): per-image |x - mu|^2 / tr(Sigma) (exact mixture mean and covariance); a - b paired
  per image, or a against its exact expectation 1 (`b: exact`); t interval.
- coverage (oracle posterior cells): coverage of the ground truth by the sampler's central credible intervals minus
  what N exact posterior draws reach on the same targets, per target; cluster t over (cell, seed, target) clusters.
- psnr (posterior cells): paired per-sample differences clustered by (seed, target), cluster t.
- fid, kid (learned models): paired bootstrap over generated images (B = compare.n_boot, at least 2000), the reference
  statistics fixed; learned-model claims rest on one training run and are not decided.
- table2_max_abs_diff: the largest |template - native| of the Table II identities (reports/tables/equivalence.csv),
  an exact check: supported when below the margin (rounding error), contradicted otherwise.

The family of the multiplicity correction is the declared claims: Benjamini-Hochberg at q = compare.q over the claims'
p-values (of the test the decision rests on); a decision whose adjusted p-value exceeds q becomes undecided.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rwbench.metrics import intervals as iv
from rwbench.plan import claims as plan_claims

SUPPORTED, CONTRADICTED, UNDECIDED = "supported", "contradicted", "undecided"
# the Table II rows the paper states as identities (rwbench.tools.equivalence pairs); its VP-SDE row is score-SDE's
# predictor only to O(beta^2) (a different discretisation, docs/solvers.md), so it is not an identity claim
TABLE2_IDENTITIES = ("ddpm_beta", "ddpm_beta_tilde", "ncsn", "ve_sde")
MIN_BOOT = 2000


# ---------------------------------------------------------------------------------------------- decisions


def _z(q: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(q))


def decide(interval: iv.Interval, question: str, *, margin: float | None = None, expect: str | None = None,
           better: str = iv.LOWER) -> str:
    """supported | contradicted | undecided of one claim from the interval of a - b (95 % for difference questions, 90 %
    for non-inferiority and equivalence: two one-sided 5 % tests); rules in rwbench.plan.claims."""
    lo, hi = interval.lo, interval.hi
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return UNDECIDED
    if question == "difference":
        if expect not in plan_claims.EXPECT:
            raise ValueError(f"expect {expect!r}: a difference claim states `a < b` or `a > b`")
        below, above = hi < 0, lo > 0
        if not (below or above):
            return UNDECIDED
        return SUPPORTED if (below and expect == "a < b") or (above and expect == "a > b") else CONTRADICTED
    if not (margin is not None and margin > 0):
        raise ValueError(f"margin {margin!r}: {question} needs a margin D > 0")
    if question == "non-inferiority":
        if better == iv.LOWER:          # a no worse than b: a - b < D
            return SUPPORTED if hi < margin else CONTRADICTED if lo > margin else UNDECIDED
        if better == iv.HIGHER:         # a no worse than b: a - b > -D
            return SUPPORTED if lo > -margin else CONTRADICTED if hi < -margin else UNDECIDED
        raise ValueError(f"better {better!r}: non-inferiority needs a metric with a better direction")
    if question == "equivalence":
        if -margin < lo and hi < margin:
            return SUPPORTED
        return CONTRADICTED if (lo >= margin or hi <= -margin) else UNDECIDED
    raise ValueError(f"question {question!r}: choose one of {', '.join(plan_claims.QUESTIONS)}")


def decision_p(interval: iv.Interval, question: str, *, margin=None, better: str = iv.LOWER) -> float:
    """The p-value of the test the decision rests on (normal approximation from estimate and se): two-sided p of 0 for
    differences; for non-inferiority and equivalence the smaller one-sided p of the margin tests (the side the
    decision takes)."""
    est, se = interval.estimate, interval.se
    if question == "difference" or not se > 0:
        return interval.p if question == "difference" else (0.0 if se == 0 else math.nan)
    from scipy import stats

    if question == "non-inferiority":
        d = (margin - est) if better == iv.LOWER else (est + margin)   # > 0: on the supported side
        return float(stats.norm.sf(abs(d) / se))
    # equivalence: supported needs both one-sided tests (max p); contradicted needs the interval outside (its side's p)
    p_lo, p_hi = stats.norm.sf((est + margin) / se), stats.norm.sf((margin - est) / se)
    inside = max(p_lo, p_hi)
    outside = min(stats.norm.sf((abs(est) - margin) / se), 1.0) if abs(est) >= margin else 1.0
    return float(min(inside, outside))


def power(se: float, effect: float | None, question: str, alpha: float = 0.05) -> float:
    """Power of the claim's test at the declared smallest effect for an interval of standard error se (normal):
    difference two-sided at alpha, non-inferiority / equivalence one-sided at alpha (a distance `effect` from the
    margin)."""
    if effect is None or not (se > 0 and np.isfinite(se)):
        return math.nan
    from scipy import stats

    z = _z(1 - alpha / 2) if question == "difference" else _z(1 - alpha)
    return float(stats.norm.cdf(effect / se - z))


def design_n(sd_unit: float, effect: float, question: str, alpha: float = 0.05, target: float = 0.8) -> int:
    """Images per arm to reach `target` power at `effect` when se = sd_unit / sqrt(n)."""
    if not (sd_unit > 0 and effect > 0):
        raise ValueError(f"design_n: need sd > 0 and effect > 0, got {sd_unit}, {effect}")
    z = _z(1 - alpha / 2) if question == "difference" else _z(1 - alpha)
    return int(math.ceil(((z + _z(target)) * sd_unit / effect) ** 2))


def mdd(se: float, question: str, alpha: float = 0.05, target: float = 0.8) -> float:
    """Minimal detectable difference (power `target`) of an interval with standard error se."""
    z = _z(1 - alpha / 2) if question == "difference" else _z(1 - alpha)
    return float((z + _z(target)) * se)


# ---------------------------------------------------------------------------------------------- procedures


def _paired_specs(a_cell, b_cell):
    """(spec_a, spec_b) per seed both cells ran."""
    out = []
    for sa in a_cell.specs:
        sb = next((s for s in b_cell.specs if s["seed"] == sa["seed"]), None)
        if sb is not None:
            out.append((sa, sb))
    return out


def _rows(ia, ib):
    _, ra, rb = np.intersect1d(np.asarray(ia), np.asarray(ib), return_indices=True)
    return ra, rb


class Evidence:
    """Per-run inputs of the procedures, loaded once (features.safetensors, shards, per-target and per-image tables)."""

    def __init__(self, data, runs_dir):
        self.data, self.runs_dir = data, Path(runs_dir)
        self._vr: dict = {}

    def energy(self, spec):
        got = self.data.features(spec)
        if got is None or "energy_cross" not in got[0]:
            return None
        t = got[0]
        return t["index"].numpy(), t["energy_cross"].double().numpy(), t["energy_within"].double().numpy()

    def variance_ratio(self, spec):
        """(index, per-image |x - mu|^2 / tr Sigma) of an oracle run (features.safetensors, written by evaluate from the
        float samples, diverged images dropped; rwbench.metrics.exact.variance_ratios)."""
        got = self.data.features(spec)
        if got is None or "variance_ratio" not in got[0]:
            raise LookupError(f"{spec['run_id']}: no per-image variance ratio (features.safetensors); re-evaluate")
        return got[0]["index"].numpy(), got[0]["variance_ratio"].double().numpy()


def energy_interval(ev: Evidence, a_cell, b_cell, level: float) -> iv.Interval:
    from rwbench.analysis.compare import energy_interval as paired_energy

    got = paired_energy(ev.data, a_cell, b_cell, level)
    if got is None:
        raise LookupError(f"{a_cell.specs[0]['run_id']} / {b_cell.specs[0]['run_id']}: no samples to pair (shards gone)")
    return got


def variance_ratio_interval(ev: Evidence, a_cell, b_cell, level: float) -> iv.Interval:
    diffs = []
    if b_cell is None:
        for sa in a_cell.specs:
            diffs.append(ev.variance_ratio(sa)[1] - 1.0)
        method = "mean per-image variance ratio - 1 (exact expectation), t"
    else:
        for sa, sb in _paired_specs(a_cell, b_cell):
            (ia, va), (ib, vb) = ev.variance_ratio(sa), ev.variance_ratio(sb)
            ra, rb = _rows(ia, ib)
            diffs.append(va[ra] - vb[rb])
        method = "paired per-image variance-ratio difference, t"
    d = np.concatenate(diffs)
    return iv.t_interval(float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))), len(d) - 1, len(d), level, method)


def coverage_interval(ev: Evidence, cell, level: float) -> iv.Interval:
    """Coverage of the truth by the cell's central credible intervals minus what N exact posterior draws reach on the
    same targets (metrics-per-target.csv), cluster t over its (seed, target) clusters."""
    from rwbench.metrics.registry import EXACT_N

    gaps = []
    for spec in cell.specs:
        frame = ev.data.per_target(spec)
        if frame is None or "coverage" + EXACT_N not in frame.columns:
            raise LookupError(f"{spec['run_id']}: no per-target calibration table (metrics-per-target.csv)")
        d = (frame["coverage"] - frame["coverage" + EXACT_N]).to_numpy(np.float64)
        gaps.append(d[np.isfinite(d)])
    d = np.concatenate(gaps)
    G = len(d)
    if G < 2:
        raise LookupError(f"{cell.specs[0]['run_id']}: fewer than 2 targets with a coverage gap")
    return iv.t_interval(float(d.mean()), float(d.std(ddof=1) / math.sqrt(G)), G - 1, G, level,
                         f"coverage gap vs N exact draws, cluster t over {G} targets")


def every_cell(intervals: list, wide: list, margin: float) -> tuple[iv.Interval, str]:
    """Equivalence in every cell (intersection-union test: no multiplicity correction for `supported`): supported when
    each cell's 90 % interval lies inside (-D, D); contradicted when some cell's Bonferroni-widened interval (wide)
    lies outside [-D, D]; the reported interval is the cell furthest from 0."""
    worst = max(range(len(intervals)), key=lambda i: abs(intervals[i].estimate))
    if all(-margin < i.lo and i.hi < margin for i in intervals):
        decision = SUPPORTED
    elif any(w.lo >= margin or w.hi <= -margin for w in wide):
        decision = CONTRADICTED
    else:
        decision = UNDECIDED
    base = intervals[worst]
    method = f"{base.method}; every one of {len(intervals)} cells (intersection-union), the worst shown"
    return iv.Interval(base.estimate, base.lo, base.hi, base.se, base.p, sum(i.n for i in intervals), method,
                       base.level), decision


def psnr_interval(ev: Evidence, a_cell, b_cell, level: float) -> iv.Interval:
    from rwbench.analysis.compare import per_image_interval

    got = per_image_interval(ev.data, a_cell, b_cell, "psnr", level)
    if got is None:
        raise LookupError("no per-image PSNR of both cells")
    return got


def set_metric_interval(ev: Evidence, a_cell, b_cell, metric: str, level: float, n_boot: int) -> iv.Interval:
    from rwbench.analysis.compare import set_interval

    got = set_interval(ev.data, a_cell, b_cell, metric, max(n_boot, MIN_BOOT), level, 0)
    if got is None:
        raise LookupError(f"no per-image {metric} data of both cells")
    return got


def table2_interval(results_dir, margin: float) -> iv.Interval:
    """The largest relative deviation between the Table II walks and their native samplers over every step
    (<results_dir>/tables/equivalence.csv, group `table2`; rwbench.tools.equivalence, float64, identical noise)."""
    import pandas as pd

    path = Path(results_dir) / "tables" / "equivalence.csv"
    if not path.is_file():
        raise LookupError(f"{path}: the Table II identity table is missing (rule equivalence_table)")
    frame = pd.read_csv(path)
    rows = frame[(frame["group"] == "table2") & frame["pair"].isin(TABLE2_IDENTITIES)]
    if rows.empty:
        raise LookupError(f"{path}: no Table II rows (group table2)")
    worst = float(rows["max_rel_dev"].abs().max())
    pairs = ", ".join(sorted(rows["pair"].unique()))
    return iv.Interval(worst, 0.0, worst, 0.0, 0.0 if worst < margin else 1.0, len(rows),
                       f"exact: largest relative |walk - native| over {len(rows)} steps of {pairs} (float64)", 0.90)


def spearman_interval(reports_dir) -> iv.Interval:
    """Spearman of PSNR against the calibration gap across the oracle's posterior cells with its two-level bootstrap
    interval (reports/tables/calibration_claims.csv, rwbench.analysis.posterior_fidelity.calibration_claims)."""
    import pandas as pd

    path = Path(reports_dir) / "tables" / "calibration_claims.csv"
    if not path.is_file():
        raise LookupError(f"{path}: missing (rule fidelity)")
    frame = pd.read_csv(path)
    rows = frame[frame.get("scope", pd.Series(dtype=str)).astype(str) == "all oracle cells"]
    if rows.empty:
        raise LookupError(f"{path}: no 'all oracle cells' Spearman row")
    r = rows.iloc[0]
    est, lo, hi = float(r["gap"]), float(r["lo"]), float(r["hi"])
    se = (hi - lo) / (2 * 1.959963984540054) if np.isfinite(lo) and np.isfinite(hi) else math.nan
    return iv.Interval(est, lo, hi, se, iv.normal_p(est, se) if se > 0 else math.nan, int(r["cells"]),
                       str(r["method"]), 0.95)


# ---------------------------------------------------------------------------------------------- the ledger


def _cells(config: dict, sel: dict, cache: dict, runs_dir=None):
    """The cells of `sel`'s experiment matching its axis values; with `runs_dir`, each run's own spec.json where it
    exists (what was sampled, paths as the DAG resolved them), as rwbench.analysis.compare reads them."""
    from rwbench.analysis.compare import _matches, cells_of
    from rwbench.plan.grid import expand_experiment

    from rwbench.analysis.compare import budget

    exp = sel["experiment"]
    if exp not in cache:
        specs = expand_experiment(config, exp)
        if runs_dir is not None:
            from rwbench.run import rundir

            specs = [rundir.read_spec(Path(runs_dir) / s["run_id"]) if (Path(runs_dir) / s["run_id"] / rundir.SPEC)
                     .is_file() else s for s in specs]
        cache[exp] = cells_of(specs)
    want = plan_claims.selector(sel)
    nfe = want.pop("nfe", None)        # the NFE budget the cell was fitted to (experiments with `nfe:` budgets)
    return [c for c in cache[exp] if _matches(c, want)
            and (nfe is None or budget(config["experiments"][exp], c) == int(nfe))]


def _learned(cells) -> bool:
    from rwbench.plan.samplers import TRAINED_FAMILIES

    return any(c.specs[0].get("family") in TRAINED_FAMILIES for c in cells)


def _runs(cells) -> str:
    return ";".join(s["run_id"] for c in cells for s in c.specs)


def evaluate_claim(cid: str, claim: dict, config: dict, ev: Evidence, reports_dir, cache: dict,
                   n_boot: int = MIN_BOOT) -> dict:
    """One ledger row (COLUMNS) of a claim; decision before the multiplicity correction."""
    from rwbench.metrics.registry import better

    question, metric = claim["question"], claim["metric"]
    level = 0.95 if question == "difference" else 0.90
    row = {"claim": cid, "source": claim["source"], "title": claim.get("statement", ""), "question": question,
           "metric": metric, "margin": claim.get("margin", math.nan), "level": level,
           "figure": claim.get("figure", ""), "note": ""}
    if metric in plan_claims.CELL_FREE:
        try:
            interval = (table2_interval(Path(ev.runs_dir).parent, float(claim["margin"])) if metric == "table2_max_abs_diff"
                        else spearman_interval(reports_dir))
        except LookupError as err:
            row.update(a_runs="", b_runs="", estimate=math.nan, ci_lo=math.nan, ci_hi=math.nan, decision=UNDECIDED,
                       p=math.nan, n=0, seeds="", method="", power=math.nan, note=f"no data: {err}")
            return row
        decision = decide(interval, question, margin=claim.get("margin"), expect=claim.get("expect"))
        row.update(a_runs="", b_runs="", estimate=interval.estimate, ci_lo=interval.lo, ci_hi=interval.hi,
                   level=interval.level, decision=decision, p=decision_p(interval, question, margin=claim.get("margin")),
                   n=interval.n, seeds="", method=interval.method, power=math.nan)
        return row
        row.update(a_runs="", b_runs="", estimate=interval.estimate, ci_lo=interval.lo, ci_hi=interval.hi,
                   level=interval.level, decision=decide(interval, question, margin=claim["margin"]),
                   p=interval.p, n=interval.n, seeds="", method=interval.method, power=math.nan)
        return row
    a_cells = _cells(config, claim["a"], cache, ev.runs_dir)
    b_cells = [] if claim["b"] == plan_claims.EXACT else _cells(config, claim["b"], cache, ev.runs_dir)
    row["a_runs"], row["b_runs"] = _runs(a_cells), (_runs(b_cells) if b_cells else "exact")
    if not a_cells or (claim["b"] != plan_claims.EXACT and not b_cells):
        raise ValueError(f"claims.{cid}: no cell of the config matches {'a' if not a_cells else 'b'}; name axis values "
                         f"its experiment has")
    pooled_ok = metric == "coverage" and b_cells == []
    if not pooled_ok and (len(a_cells) > 1 or len(b_cells) > 1):
        raise ValueError(f"claims.{cid}: a and b must each select one cell for {metric} (got {len(a_cells)} and "
                         f"{len(b_cells)}); add axis values to the selectors")
    a, b = a_cells[0], (b_cells[0] if b_cells else None)
    if b is not None and a.specs[0].get("reference") != b.specs[0].get("reference"):
        raise ValueError(f"claims.{cid}: a and b are scored against different references; pair cells of one dataset")
    direction = better(metric) if metric in ("energy_distance", "fid", "kid", "psnr") else iv.LOWER
    try:
        if metric == "energy_distance":
            interval = energy_interval(ev, a, b, level)
        elif metric == "variance_ratio":
            interval = variance_ratio_interval(ev, a, b, level)
        elif metric == "coverage":
            cells_iv = [coverage_interval(ev, c, level) for c in a_cells]
            wide = [coverage_interval(ev, c, 1 - (1 - level) / len(a_cells)) for c in a_cells]
            interval, cell_decision = every_cell(cells_iv, wide, float(claim["margin"]))
        elif metric == "psnr":
            interval = psnr_interval(ev, a, b, level)
        else:
            interval = set_metric_interval(ev, a, b, metric, level, n_boot)
    except LookupError as err:
        row.update(estimate=math.nan, ci_lo=math.nan, ci_hi=math.nan, decision=UNDECIDED, p=math.nan, n=0, seeds="",
                   method="", power=math.nan, note=f"no data: {err}")
        return row
    if metric == "coverage":
        # its p-value in the claims' family: supported - the largest of the cells' equivalence p (every cell must
        # pass); contradicted - Bonferroni over the cells of the smallest
        ps = [decision_p(i, "equivalence", margin=float(claim["margin"])) for i in cells_iv]
        decision = cell_decision
        p = max(ps) if decision == SUPPORTED else min(1.0, len(ps) * min(ps)) if decision == CONTRADICTED else math.nan
    else:
        decision = decide(interval, question, margin=claim.get("margin"), expect=claim.get("expect"),
                          better=direction)
        p = decision_p(interval, question, margin=claim.get("margin"), better=direction)
    seeds = sorted({s["seed"] for c in a_cells for s in c.specs})
    design = claim.get("design") or {}
    row.update(estimate=interval.estimate, ci_lo=interval.lo, ci_hi=interval.hi, decision=decision, p=p,
               n=interval.n, seeds=";".join(map(str, seeds)), method=interval.method,
               power=power(interval.se, claim.get("effect"), question, float(claim["alpha"])),
               design_n=design.get("n", math.nan), pilot_sd=design.get("pilot_sd", math.nan),
               mdd=mdd(interval.se, question, float(claim["alpha"])) if interval.se > 0 else 0.0)
    if _learned(a_cells + b_cells):
        row["decision"] = UNDECIDED
        row["note"] = "one training run per learned model: not decided (training-seed variance unmeasured)"
    return row


def read_design(path) -> dict:
    """{claim id: design} of a design file (rwbench.tools.design), {} without one."""
    if not path:
        return {}
    from rwbench.plan.config import read_yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"claims_design {path}: not found; run `python -m rwbench.tools.design --config <config> "
                                f"--out {path}` or drop the key")
    return (read_yaml(path) or {}).get("designs") or {}


def ledger(config: dict, runs_dir, reports_dir, reference_cache="results/reference", extractor=None,
           q: float | None = None) -> "pd.DataFrame":
    """Every claim of the config evaluated and decided; Benjamini-Hochberg over the claims' p-values at q."""
    import pandas as pd

    from rwbench.analysis.compare import DEFAULTS, RunData

    claims = plan_claims.check_claims(config)
    for cid, design in read_design(config.get("claims_design")).items():
        if cid in claims:
            claims[cid] = dict(claims[cid], design=design)
    q = float(DEFAULTS["q"] if q is None else q)
    ev = Evidence(RunData(runs_dir, reference_cache, extractor), runs_dir)
    n_boot = int((config.get("compare") or {}).get("n_boot", DEFAULTS["n_boot"]))
    cache: dict = {}
    rows = [evaluate_claim(cid, claim, config, ev, reports_dir, cache, n_boot) for cid, claim in claims.items()]
    frame = pd.DataFrame(rows, columns=plan_claims.COLUMNS)
    decidable = frame["decision"] != UNDECIDED
    _, adjusted = iv.benjamini_hochberg(frame["p"].where(decidable).to_numpy(dtype=float), q)
    frame["p_adjusted"] = adjusted
    demote = decidable & ~(frame["p_adjusted"] <= q)
    frame.loc[demote, "note"] = frame.loc[demote, "note"].astype(str) + f"interval decides, but the BH-adjusted p > {q}"
    frame.loc[demote, "decision"] = UNDECIDED
    return frame


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def markdown(frame) -> str:
    """reports/claims.md: a one-line verdict per claim, then the full table."""
    counts = frame["decision"].value_counts()
    head = [f"# Claims ledger", "",
            f"{len(frame)} declared claims: {counts.get(SUPPORTED, 0)} supported, {counts.get(CONTRADICTED, 0)} "
            f"contradicted, {counts.get(UNDECIDED, 0)} undecided (rules and procedures: docs/statistics.md).", ""]
    for _, r in frame.iterrows():
        ci = f"{_fmt(r['estimate'])} [{_fmt(r['ci_lo'])}, {_fmt(r['ci_hi'])}] ({int(round(100 * r['level']))} %)"
        margin = f", margin {_fmt(r['margin'])}" if np.isfinite(r["margin"]) else ""
        head.append(f"- **{r['decision']}** `{r['claim']}` ({r['source']}): {r['title']} — {r['metric']} a - b "
                    f"{ci}{margin}, n {r['n']}, power {_fmt(r['power'])}" + (f"; {r['note']}" if r["note"] else ""))
    cols = ["claim", "question", "metric", "estimate", "ci_lo", "ci_hi", "margin", "decision", "p_adjusted", "n",
            "seeds", "power", "design_n", "method"]
    table = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    table += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for _, r in frame.iterrows()]
    return "\n".join(head + ["", *table, ""])


def write_ledger(frame, reports_dir) -> tuple[Path, Path]:
    from rwbench.io import atomic_write

    out = Path(reports_dir)
    csv_path, md_path = out / "claims.csv", out / "claims.md"
    with atomic_write(csv_path, "w") as handle:
        frame.to_csv(handle, index=False)
    with atomic_write(md_path, "w") as handle:
        handle.write(markdown(frame))
    return csv_path, md_path
