"""Coverage of the ledger's interval procedures, proven by simulation on the exact digits oracle.

    python -m rwbench.tools.coverage --oracle-dir results/embedded/oracle --reps 200 --out reports/tables/coverage.csv

Each replicate draws fresh exact mixture draws (rwbench.models.oracle: the fitted GaussianMixtureDenoiser), a fresh
reference of `--ref` exact draws for the energy-distance rows, and builds every interval of rwbench.metrics.ustat
(and intervals.cluster_mean) on them. Arms: exact draws, and the known perturbation x_s = m_j + s (x - m_j) of the
same draws (component j, s = 0.95 / 1.05: covariances scaled by s^2). Energy distances and FID use the uint8
pixels (to_uint8, as rwbench.metrics.exact does; the truth is computed on the same quantised law), the variance
ratio the float draws (its truth is exact). One row per (procedure, scenario): empirical coverage of the truth with
a Wilson 95 % interval, type-I error (null rows), rejection rate, mean width. Truths that need Monte Carlo are
estimated once (pairing the perturbed and exact arms on common draws) and printed with their MC se.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

N_ARM = 128           # images per arm (the DAG's oracle cells)
N_REF = 2000          # exact reference draws (config embedded.oracle.digits.reference_samples; metrics.exact)
SCALES = (0.95, 0.8)   # near the null (brief's s) and clearly off it (ED(p_0.95, p) ~ 2e-4 is below any n = 128 se)
FEATURE_DIM = 32      # FID features: fixed random projection of the 256 pixels
FEATURE_SEED = 20250
N_BOOT = 2000
N_PERM = 199
TARGETS, TARGET_POOL, DRAWS_PER_TARGET = 8, 8, 8
COLUMNS = ["procedure", "scenario", "reps", "n", "truth", "truth_mc_se", "coverage", "coverage_lo", "coverage_hi",
           "type1", "reject", "mean_width"]


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


class Mixture:
    """Exact draws of the oracle's mixture in numpy, with the component and the standard normal kept so that a
    perturbed arm m_j + s L_j z shares the draw (paired design)."""

    def __init__(self, oracle):
        self.weights = oracle.weights.double().numpy()
        self.means = oracle.means.double().numpy()
        vals, vecs = oracle.eigvals.double().numpy(), oracle.eigvecs.double().numpy()
        self.factors = vecs * np.sqrt(np.maximum(vals, 0.0))[:, None, :]          # L_j = U_j diag(sqrt(lambda))
        self.dim = self.means.shape[1]
        self.mu = self.weights @ self.means
        covs = oracle.covs.double().numpy()
        self.trace_c = float(self.weights @ np.trace(covs, axis1=1, axis2=2))
        self.trace_total = self.trace_c + float(self.weights @ ((self.means - self.mu) ** 2).sum(1))

    def draw(self, n: int, rng: np.random.Generator):
        comps = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        z = rng.standard_normal((n, self.dim))
        noise = np.empty_like(z)
        for j in np.unique(comps):
            sel = comps == j
            noise[sel] = z[sel] @ self.factors[j].T
        return comps, noise

    def points(self, comps, noise, s: float = 1.0) -> np.ndarray:
        return self.means[comps] + s * noise

    def ratio_truth(self, s: float) -> float:
        """E|x_s - mu|^2 / tr Sigma - 1 for the perturbed law (exact)."""
        return (s * s * self.trace_c + (self.trace_total - self.trace_c)) / self.trace_total - 1.0


def quantise(x: np.ndarray) -> np.ndarray:
    """The uint8 pixels on [0, 1] (rwbench.data.to_uint8 then from_uint8)."""
    return np.clip(np.round(x * 255.0), 0, 255) / 255.0


def ed_truths(mix: Mixture, rng, n: int = 2000, blocks: int = 2) -> dict:
    """ED(p_s, p) of the quantised perturbed law, s in SCALES: the paired U-statistic difference ED(exact) - ED(s)
    on `blocks` blocks of n common draws against n fresh reference draws; MC se from its unbiased variance."""
    from rwbench.metrics import ustat

    out = {}
    for s in SCALES:
        ests, vars_ = [], []
        for _ in range(blocks):
            comps, noise = mix.draw(n, rng)
            ref = quantise(mix.points(*mix.draw(n, rng)))
            p = ustat.EnergyParts(quantise(mix.points(comps, noise)), ref, quantise(mix.points(comps, noise, s)))
            e, v = ustat.energy_difference_variance(p.ka, p.kb, p.wa, p.wb, paired=True)
            ests.append(-e)
            vars_.append(max(v, 0.0))
        out[s] = (float(np.mean(ests)), float(math.sqrt(sum(vars_)) / blocks))
    return out


def fid_setup(mix: Mixture, rng, n_ref: int = N_REF) -> dict:
    w = np.random.default_rng(FEATURE_SEED).standard_normal((mix.dim, FEATURE_DIM)) / math.sqrt(mix.dim)
    ref = quantise(mix.points(*mix.draw(n_ref, rng))) @ w
    return {"w": w, "ref": ref}


def fid_truths(mix: Mixture, fid: dict, rng, reps: int = 400, n: int = N_ARM) -> dict:
    """E[FID_n(A) - FID_n(A_s) | reference] at n = N_ARM (the FID of n images is biased by ~b / n, so the estimand is
    the difference at equal n given the fixed reference); MC over `reps` paired draws."""
    from rwbench.metrics.fidelity import frechet_distance_symmetric as fd, weighted_statistics

    ref = weighted_statistics(fid["ref"])
    out = {}
    vals = {s: np.empty(reps) for s in SCALES}

    def fid_of(x):
        st = weighted_statistics(x @ fid["w"])
        return fd(ref["mu"], ref["sigma"], st["mu"], st["sigma"])    # = SetMetrics.fid (same root of the reference)

    for r in range(reps):
        comps, noise = mix.draw(n, rng)
        base = fid_of(quantise(mix.points(comps, noise)))
        for s in SCALES:
            vals[s][r] = base - fid_of(quantise(mix.points(comps, noise, s)))
    for s in SCALES:
        out[s] = (float(vals[s].mean()), float(vals[s].std(ddof=1) / math.sqrt(reps)))
    return out


def posterior_pool(oracle, mix: Mixture, rng, eta: float = 0.05, keep: float = 0.25):
    """TARGET_POOL inpainting targets (random masks keeping `keep` of the pixels) with their exact posteriors."""
    import torch

    from rwbench.models.oracle_posterior import gmm_posterior

    pool = []
    for _ in range(TARGET_POOL):
        x0 = mix.points(*mix.draw(1, rng))[0]
        kept = np.sort(rng.choice(mix.dim, size=int(keep * mix.dim), replace=False))
        A = np.eye(mix.dim)[kept]
        y = A @ x0 + eta * rng.standard_normal(len(kept))
        post = gmm_posterior(oracle, torch.from_numpy(A), torch.from_numpy(y), eta)
        pool.append((x0, Mixture(post)))
    return pool


def credible_cover(draws: np.ndarray, truth: np.ndarray) -> float:
    """Share of truth's pixels inside the per-pixel central interval of the draws at the credible level of posterior
    calibration (rwbench.metrics.posterior_quality.credible_coverage, which this calls)."""
    import torch

    from rwbench.metrics.posterior_quality import credible_coverage

    return credible_coverage(torch.from_numpy(np.asarray(draws, dtype=np.float64)),
                             torch.from_numpy(np.asarray(truth, dtype=np.float64)))


class Tally:
    def __init__(self):
        self.rows: dict = {}

    def add(self, procedure: str, scenario: str, n: int, truth: float, mc_se: float, lo: float, hi: float,
            rejected: bool | None, null: bool, covered: bool | None = None):
        key = (procedure, scenario)
        row = self.rows.setdefault(key, {"n": n, "truth": truth, "mc_se": mc_se, "cov": 0, "rej": 0, "reps": 0,
                                         "width": 0.0, "null": null})
        row["reps"] += 1
        row["cov"] += int(covered if covered is not None else (lo <= truth <= hi))
        row["rej"] += int(bool(rejected))
        row["width"] += (hi - lo) if np.isfinite(hi - lo) else 0.0

    def frame(self):
        import pandas as pd

        out = []
        for (proc, scen), r in self.rows.items():
            lo, hi = wilson(r["cov"], r["reps"])
            rej = r["rej"] / r["reps"]
            if proc.endswith("permutation test") and not r["null"]:
                lo = hi = float("nan")
            out.append({"procedure": proc, "scenario": scen, "reps": r["reps"], "n": r["n"], "truth": r["truth"],
                        "truth_mc_se": r["mc_se"], "coverage": r["cov"] / r["reps"] if np.isfinite(lo) else float("nan"), "coverage_lo": lo,
                        "coverage_hi": hi, "type1": rej if r["null"] else float("nan"), "reject": rej,
                        "mean_width": r["width"] / r["reps"]})
        return pd.DataFrame(out, columns=COLUMNS)


def simulate(oracle, reps: int, seed: int = 0, n: int = N_ARM, n_ref: int = N_REF, log=print, checkpoint=None):
    """Run every procedure on `reps` replicates; returns (table, truths)."""
    from rwbench.metrics import intervals as iv
    from rwbench.metrics import ustat

    mix = Mixture(oracle)
    t0 = time.time()
    ed_truth = ed_truths(mix, np.random.default_rng([seed, 1]))
    fid = fid_setup(mix, np.random.default_rng([seed, 2]), n_ref)
    fid_truth = fid_truths(mix, fid, np.random.default_rng([seed, 3]), n=n)
    pool = posterior_pool(oracle, mix, np.random.default_rng([seed, 4]))
    log(f"truths ({time.time() - t0:.1f} s): ED(p_s, p) {ed_truth}; FID_n(A) - FID_n(A_s) {fid_truth}")
    tally = Tally()
    z_one = 1.6448536269514722
    for r in range(reps):
        rng = np.random.default_rng([seed, 100, r])
        ref = quantise(mix.points(*mix.draw(n_ref, rng)))
        wr = ustat._within(ref)
        ca, na = mix.draw(n, rng)
        cb, nb = mix.draw(n, rng)
        xa, xb = mix.points(ca, na), mix.points(cb, nb)
        qa, qb = quantise(xa), quantise(xb)
        # ED difference, both arms exact (independent): truth 0
        parts = ustat.EnergyParts(qa, ref, qb, ref_within=wr)
        for var in ("unbiased", "jackknife"):
            out = ustat.energy_difference(None, None, None, paired=False, variance=var, parts=parts)
            tally.add(f"ED difference ({var})", "exact vs exact, unpaired", n, 0.0, 0.0, out.lo, out.hi,
                      iv.decide(out) != iv.UNDECIDED, True)
        floor = ustat.energy_vs_floor(None, None, parts=parts, n_perm=N_PERM, seed=rng)
        tally.add("ED vs floor: normal interval of ED alone", "exact", n, 0.0, 0.0, floor.lo, floor.hi, floor.lo > 0,
                  True)
        ce, ne = mix.draw(n, rng)
        qe = quantise(mix.points(ce, ne))          # the exact floor's own n draws (independent of a, b and ref)
        fl2 = ustat.energy_vs_floor(None, None, exact=qe, parts=parts, n_perm=19, seed=rng)
        tally.add("ED vs floor: difference to n exact draws", "exact", n, 0.0, 0.0, fl2.lo, fl2.hi, fl2.lo > 0, True)
        tally.add("ED vs floor: permutation test", "exact", n, 0.0, 0.0, floor.lo, floor.hi, floor.p < 0.05, True,
                  covered=floor.p >= 0.05)
        # perturbed arms, paired with exact draws
        for s in SCALES:
            truth_s, se_s = ed_truth[s]
            qs = quantise(mix.points(ca, na, s))
            ps = ustat.EnergyParts(qa, ref, qs, ref_within=wr)
            for var in ("unbiased", "jackknife"):
                out = ustat.energy_difference(None, None, None, paired=True, variance=var, parts=ps)
                tally.add(f"ED difference ({var})", f"exact vs s = {s}, paired", n, -truth_s, se_s, out.lo, out.hi,
                          iv.decide(out) != iv.UNDECIDED, False)
            ps_floor = ustat.EnergyParts(qs, ref, ref_within=wr)
            fl = ustat.energy_vs_floor(None, None, parts=ps_floor, n_perm=N_PERM, seed=rng)
            tally.add("ED vs floor: normal interval of ED alone", f"s = {s}", n, truth_s, se_s, fl.lo, fl.hi,
                      fl.lo > 0, False)
            fl2 = ustat.energy_vs_floor(None, None, exact=qe, parts=ps_floor, n_perm=19, seed=rng)
            tally.add("ED vs floor: difference to n exact draws", f"s = {s}", n, truth_s, se_s, fl2.lo, fl2.hi,
                      fl2.lo > 0, False)
            tally.add("ED vs floor: permutation test", f"s = {s}", n, truth_s, se_s, fl.lo, fl.hi, fl.p < 0.05, False,
                      covered=False)     # a test, not an interval: coverage not defined off the null
            if s == SCALES[-1]:
                # a = s-arm (worse), b = exact; lower is better; margin D = truth (the boundary: type-I error)
                o90 = ustat.energy_difference(None, None, None, paired=True, level=0.90,
                                              parts=ustat.EnergyParts(qs, ref, qa, ref_within=wr))
                dec = ustat.decide_claim(o90, "non-inferiority", truth_s, iv.LOWER)
                tally.add("non-inferiority (ED, one-sided 95 %)", f"s = {s} vs exact, margin = truth", n, truth_s,
                          se_s, o90.lo, o90.hi, dec == ustat.SUPPORTED, True, covered=o90.hi >= truth_s)
                dec = ustat.decide_claim(o90, "equivalence", truth_s, iv.LOWER)
                tally.add("equivalence TOST (ED, 90 %)", f"s = {s} vs exact, margin = truth", n, truth_s, se_s,
                          o90.lo, o90.hi, dec == ustat.SUPPORTED, True)
        # per-image variance ratio (float draws; exact truth)
        va = ustat.variance_ratio(xa, mix.mu, mix.trace_total)
        out = ustat.ratio_vs_one(va)
        tally.add("variance ratio vs 1 (t)", "exact", n, 0.0, 0.0, out.lo, out.hi, iv.decide(out) != iv.UNDECIDED, True)
        for s in SCALES:
            vs = ustat.variance_ratio(mix.points(ca, na, s), mix.mu, mix.trace_total)
            truth = mix.ratio_truth(s)
            out = ustat.ratio_vs_one(vs)
            tally.add("variance ratio vs 1 (t)", f"s = {s}", n, truth, 0.0, out.lo, out.hi,
                      iv.decide(out) != iv.UNDECIDED, False)
            out = ustat.mean_difference(vs, va, paired=True)
            tally.add("variance ratio difference (paired t)", f"s = {s} vs exact", n, truth, 0.0, out.lo, out.hi,
                      iv.decide(out) != iv.UNDECIDED, False)
        out = ustat.mean_difference(va, ustat.variance_ratio(xb, mix.mu, mix.trace_total), paired=False)
        tally.add("variance ratio difference (Welch t)", "exact vs exact, unpaired", n, 0.0, 0.0, out.lo, out.hi,
                  iv.decide(out) != iv.UNDECIDED, True)
        # FID difference (fixed reference features, resampled generated images): both variance methods
        fa, fb = qa @ fid["w"], qb @ fid["w"]
        s = SCALES[-1]
        fs = quantise(mix.points(ca, na, s)) @ fid["w"]
        for method, label in (("percentile", "percentile bootstrap"), ("corrected", "2 V_jack - V_boot, normal")):
            out = ustat.fid_difference(fa, fb, fid["ref"], paired=False, seed=rng, reference_se=False, method=method)
            tally.add(f"FID difference ({label})", "exact vs exact, unpaired", n, 0.0, 0.0, out.lo, out.hi,
                      iv.decide(out) != iv.UNDECIDED, True)
            out = ustat.fid_difference(fa, fs, fid["ref"], paired=True, seed=rng, reference_se=False, method=method)
            tally.add(f"FID difference ({label})", f"exact vs s = {s}, paired", n, fid_truth[s][0], fid_truth[s][1],
                      out.lo, out.hi, iv.decide(out) != iv.UNDECIDED, False)
        # coverage gap over targets: N exact draws as the "sampler" against N exact reference draws; truth 0
        picks = rng.integers(0, len(pool), size=TARGETS)
        gaps = []
        for g in picks:
            x0, post = pool[g]
            draws = post.points(*post.draw(2 * DRAWS_PER_TARGET, rng))
            gaps.append(credible_cover(draws[:DRAWS_PER_TARGET], x0) - credible_cover(draws[DRAWS_PER_TARGET:], x0))
        out = iv.cluster_mean(np.array(gaps), np.arange(TARGETS))
        tally.add(f"coverage gap, cluster t ({TARGETS} targets)", f"{DRAWS_PER_TARGET} exact vs "
                  f"{DRAWS_PER_TARGET} exact draws", TARGETS, 0.0, 0.0, out.lo, out.hi,
                  iv.decide(out) != iv.UNDECIDED, True)
        if (r + 1) % max(1, reps // 10) == 0:
            log(f"rep {r + 1}/{reps} ({time.time() - t0:.0f} s)")
            if checkpoint is not None:
                checkpoint(tally.frame())
    return tally.frame(), {"ed": ed_truth, "fid": fid_truth}


def markdown(frame) -> str:
    """The coverage table as markdown (docs/statistics.md is written from the csv with --markdown)."""
    def f(v, digits=3):
        return "-" if not np.isfinite(v) else f"{v:.{digits}g}"

    lines = ["| procedure | scenario | reps | n | truth (MC se) | coverage [95 % Wilson] | type-I | reject | mean width |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in frame.itertuples():
        truth = f(r.truth, 3) + (f" ({f(r.truth_mc_se, 2)})" if r.truth_mc_se > 0 else "")
        cov = "-" if not np.isfinite(r.coverage) else f"{r.coverage:.3f} [{r.coverage_lo:.3f}, {r.coverage_hi:.3f}]"
        lines.append(f"| {r.procedure} | {r.scenario} | {r.reps} | {r.n} | {truth} | {cov} | "
                     f"{'-' if not np.isfinite(r.type1) else f'{r.type1:.3f}'} | {r.reject:.3f} | {f(r.mean_width)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.coverage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--oracle-dir", help="folder of `rwbench prepare` (digits-gmm.safetensors)")
    parser.add_argument("--reps", type=int, default=200, help="replicates per row (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=N_ARM, help=f"images per arm (default {N_ARM})")
    parser.add_argument("--ref", type=int, default=N_REF, help=f"exact reference draws (default {N_REF})")
    parser.add_argument("--out", default="reports/tables/coverage.csv")
    parser.add_argument("--markdown", metavar="CSV", help="print the markdown table of a finished run's csv and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        import pandas as pd

        print(markdown(pd.read_csv(args.markdown)))
        return 0
    from rwbench.models.denoisers import GaussianMixtureDenoiser
    from rwbench.models.oracle import oracle_file

    if not args.oracle_dir:
        print("error: --oracle-dir is required (the folder of `rwbench prepare`)", file=sys.stderr)
        return 2
    path = oracle_file(args.oracle_dir, "digits")
    if not path.is_file():
        print(f"error: no oracle at {path}; run `rwbench prepare --config config/embedded-default.yaml --out "
              f"{args.oracle_dir}` first", file=sys.stderr)
        return 2
    if args.reps < 1 or args.n < 8 or args.ref < 8:
        print("error: need --reps >= 1, --n >= 8 and --ref >= 8", file=sys.stderr)
        return 2
    oracle = GaussianMixtureDenoiser.load(path)
    t0 = time.time()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(frame):
        from rwbench.io import atomic_path

        with atomic_path(out) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")

    table, _ = simulate(oracle, args.reps, args.seed, args.n, args.ref, log=lambda m: print(m, flush=True),
                        checkpoint=write)     # the csv grows every tenth of the run
    elapsed = time.time() - t0
    write(table)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {out} ({args.reps} reps per row, n = {args.n}, reference {args.ref}; {elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
