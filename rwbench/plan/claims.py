"""The claims ledger's declarations (config `claims:`): what each claim asks, of which cells, with which margin, fixed
before the data. Torch-free: `rwbench plan` and the Snakefile validate claims with the config.

A claim (one entry of `claims:`, keyed by its id):

    walk100-vs-ddpm1000:
      source: paper                     # paper | readme | extension: who states it
      statement: 100 simplified-walk steps are no worse than 1000 DDPM steps on the exact oracle
      a: {experiment: nfe-oracle, sampler: simplified, steps: 100}    # selects cell(s) a by axis values
      b: {experiment: nfe-oracle, sampler: native-ddpm, steps: 1000}  # or `b: exact` (the exact answer, below)
      metric: energy_distance
      question: non-inferiority         # difference | non-inferiority | equivalence
      expect: a < b                     # difference claims only: the sign the claim states
      margin: 0.002                     # non-inferiority / equivalence: D in the metric's units
      margin_reason: ...                # why this D (stated before looking)
      effect: 0.004                     # smallest effect of interest (the design's power is computed at it)
      effect_reason: ...
      alpha: 0.05
      figure: nfe                       # the figure that carries it (rwbench.plan.figures), or none

`b: exact` compares cell a with the exact answer the oracle gives: the exact expectation 1 of the variance ratio, or
N exact posterior draws of the same targets for calibration metrics (coverage). Questions and decisions
(rwbench.analysis.claims.decide):

- difference (expect `a < b` or `a > b`): 95 % interval of a - b; supported when it lies on the stated side of 0,
  contradicted when it lies on the other side, else undecided;
- non-inferiority (a no worse than b by more than D; `better` says which direction is better, from the metric
  registry): one-sided 95 % bound (the 90 % two-sided interval's); supported when the whole interval is better than
  b + D, contradicted when it is worse than b + D, else undecided;
- equivalence (|a - b| < D): two one-sided tests, 90 % interval inside (-D, D) supported, entirely outside contradicted.

A claim on a learned model rests on one training run unless its model was trained with several seeds: the ledger
reports its estimate and interval but does not decide it (decision `undecided`, method says "one training run").
"""

from __future__ import annotations

QUESTIONS = ("difference", "non-inferiority", "equivalence")
SOURCES = ("paper", "readme", "extension")
EXPECT = ("a < b", "a > b")
# metrics the ledger has a validated procedure for (rwbench.analysis.claims.PROCEDURES; docs/statistics.md coverage)
LEDGER_METRICS = ("energy_distance", "variance_ratio", "fid", "kid", "coverage", "psnr", "table2_max_abs_diff",
                  "psnr_gap_spearman")
EXACT = "exact"
CELL_FREE = ("table2_max_abs_diff", "psnr_gap_spearman")     # read from a table of the DAG, not from two cells
# seeds of pilot runs (rwbench.tools.design) start here; confirmatory runs (the config's experiments) stay below, so a
# pilot's images are never reused in the confirmatory run
PILOT_SEED_BASE = 1_000_000
COLUMNS = ["claim", "source", "title", "question", "metric", "a_runs", "b_runs", "estimate", "ci_lo", "ci_hi",
           "level", "margin", "decision", "p", "p_adjusted", "n", "seeds", "method", "power", "design_n", "pilot_sd",
           "mdd", "figure", "note"]


def _fail(cid: str, message: str):
    raise ValueError(f"claims.{cid}: {message}")


def check_claims(config: dict) -> dict[str, dict]:
    """The config's `claims:` with defaults filled in, each checked against its experiments; one-line ValueError
    naming the claim and what to fix."""
    claims = config.get("claims") or {}
    if not isinstance(claims, dict):
        raise ValueError("claims: need a mapping {claim id: claim}")
    experiments = config.get("experiments") or {}
    out = {}
    for cid, claim in claims.items():
        claim = dict(claim or {})
        needed = ("metric", "question") if claim.get("metric") in CELL_FREE else ("a", "b", "metric", "question")
        for field in needed:
            if field not in claim:
                _fail(cid, f"needs `{field}` ({', '.join(needed)} are required)")
        if claim["question"] not in QUESTIONS:
            _fail(cid, f"question {claim['question']!r}: choose one of {', '.join(QUESTIONS)}")
        if claim["metric"] not in LEDGER_METRICS:
            _fail(cid, f"metric {claim['metric']!r}: the ledger decides {', '.join(LEDGER_METRICS)}")
        if claim["question"] == "difference":
            if claim.get("expect") not in EXPECT:
                _fail(cid, f"a difference claim needs `expect: a < b` or `expect: a > b` (got {claim.get('expect')!r})")
        elif not (isinstance(claim.get("margin"), (int, float)) and claim["margin"] > 0):
            _fail(cid, f"a {claim['question']} claim needs a margin D > 0 stated before the data (`margin:`)")
        if claim["question"] != "difference" and not claim.get("margin_reason"):
            _fail(cid, "state why the margin is what it is (`margin_reason:`)")
        claim.setdefault("source", "extension")
        if claim["source"] not in SOURCES:
            _fail(cid, f"source {claim['source']!r}: choose one of {', '.join(SOURCES)}")
        claim.setdefault("alpha", 0.05)
        if not 0 < float(claim["alpha"]) < 0.5:
            _fail(cid, f"alpha {claim['alpha']}: need 0 < alpha < 0.5")
        for side in ("a", "b") if claim["metric"] not in CELL_FREE else ():
            sel = claim[side]
            if side == "b" and sel == EXACT:
                continue
            if not isinstance(sel, dict) or "experiment" not in sel:
                _fail(cid, f"`{side}` must select cells with `experiment:` and axis values (or b: exact)")
            if sel["experiment"] not in experiments:
                _fail(cid, f"{side}.experiment {sel['experiment']!r} is not an experiment of this config "
                           f"({', '.join(experiments)})")
        effect = claim.get("effect")
        if effect is not None and not (isinstance(effect, (int, float)) and effect > 0):
            _fail(cid, f"effect {effect!r}: the smallest effect of interest is a positive number in the metric's units")
        allowed = {"a", "b", "metric", "question", "expect", "margin", "margin_reason", "effect", "effect_reason",
                   "alpha", "source", "statement", "figure", "design"}
        unknown = sorted(set(claim) - allowed)
        if unknown:
            _fail(cid, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        out[cid] = claim
    return out


def claim_experiments(claims: dict[str, dict]) -> list[str]:
    """Experiments the claims read (their runs are the ledger rule's inputs)."""
    names = []
    for claim in claims.values():
        for side in ("a", "b") if claim["metric"] not in CELL_FREE else ():
            sel = claim[side]
            if isinstance(sel, dict) and sel["experiment"] not in names:
                names.append(sel["experiment"])
    return names


def selector(sel: dict) -> dict:
    """The axis values of a side's selector (everything but `experiment`)."""
    return {k: v for k, v in sel.items() if k != "experiment"}
