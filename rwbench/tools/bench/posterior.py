"""Oracle posterior benchmark: every posterior sampler (random walk eq. 22, DPS, Pi-GDM, DDRM, DiffPIR, DAPS) held
against the exact Gaussian-mixture posterior at equal NFE (issue 15).

Per task (inpaint 92 %, box, sr x4, deblur), eta and target t (ground truth drawn from the prior), every sampler draws N
samples of the one measurement y. Seeds come from the named streams of rwbench.core.rng, with draw j of target t at image
index t N + j: masks, y, x_T, step noise and exact draws are those of a DAG run with samples_per_target = N.
Per row: coverage of the ground truth and of N exact posterior draws by the per-coordinate 90 % intervals of the N
draws, next to the coverage N *exact* draws reach (a second, independent set: the reference at the same N and quantile
rule, statistics.md); PSNR of the mean of N draws minus PSNR of the mean of N exact draws; energy distance to the exact
draws, next to the exact-vs-exact value. The summary averages over targets (clusters) with a t interval.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from rwbench.core import schedules
from rwbench.plan.samplers import POSTERIOR_SAMPLERS, SAMPLERS
from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.core.conditional import ConditionalSetup, conditional_random_walk
from rwbench.tasks.measure import measure_targets, task_operator
from rwbench.run.runners import posterior_nfe, posterior_settings, run_posterior_sampler
from rwbench.models.oracle_posterior import gmm_posterior, posterior_mean
from rwbench.metrics.posterior_quality import oracle_quality, to_unit
from rwbench.core.rng import randn_per_image, sample_index, stream_generators, stream_seed
from rwbench.metrics.registry import CREDIBLE_LEVEL
from rwbench.tasks import INVERSE_TASKS

F64 = torch.float64
TASK_CHOICES = INVERSE_TASKS
SAMPLER_CHOICES = ("rw",) + POSTERIOR_SAMPLERS
# each sampler's table row (rw: the simplified walk) and its main step parameter (the row's step_param), times --sweep
ROWS = {"rw": SAMPLERS["simplified"], **{name: SAMPLERS[name] for name in POSTERIOR_SAMPLERS}}
SWEEP_PARAM = {name: row.step_param for name, row in ROWS.items()}


def build_oracle(name: str, resolution: int, components: int, reg_covar: float, seed: int) -> tuple[GaussianMixtureDenoiser, str]:
    """Gaussian-mixture prior: fitted to the embedded digits/faces (rwbench.models.oracle.fit_gmm, else sklearn) or synthetic."""
    shape = (1, resolution, resolution)
    if name == "synthetic":
        g = torch.Generator().manual_seed(seed)
        d = resolution * resolution
        means = 0.5 + 0.25 * torch.randn(components, d, generator=g, dtype=F64)
        basis = torch.randn(components, d, 8, generator=g, dtype=F64) * 0.15
        covs = basis @ basis.transpose(1, 2) + reg_covar * torch.eye(d, dtype=F64)
        return GaussianMixtureDenoiser(torch.ones(components, dtype=F64), means, covs, sample_shape=shape), "synthetic rank-8 + diag mixture"
    from rwbench.data import from_uint8, load_dataset

    images = from_uint8(load_dataset(name, "train", resolution, seed).images, dtype=F64)
    from rwbench.models.oracle import fit_gmm

    return fit_gmm(images, components, reg_covar, seed), "rwbench.models.oracle.fit_gmm"


def task_params(task: str, resolution: int, args) -> dict:
    """Operator parameters of a task at this resolution (box: half the side; deblur: the DPS kernel 61 / std 3 scaled)."""
    if task == "inpaint":
        return {"p": args.p}
    if task == "box":
        return {"box": max(1, resolution // 2)}
    if task == "sr":
        return {"factor": args.factor}
    return {"size": args.blur_size, "std": args.blur_std}


def exact_draws(post, seed: int, kind: str, task: str, target: int, N: int) -> torch.Tensor:
    """N exact posterior draws of target `target`, draw j from stream (seed, kind, task, t N + j) as in the DAG."""
    gens = stream_generators(seed, kind, task, [sample_index(target, j, N) for j in range(N)])
    return torch.cat([post.sample(1, generator=g) for g in gens])


def problem(prior, task: str, eta: float, target: int, args, truth: torch.Tensor | None = None) -> dict:
    """Ground truth (given, [1, C, H, W], else drawn from the prior, stream truth), measurement and operators
    (rwbench.tasks.measure.measure_targets), exact posterior."""
    shape, N, seed = prior.sample_shape, args.n_samples, args.seed
    if truth is None:
        truth = prior.sample(1, torch.Generator().manual_seed(stream_seed(seed, "truth", task, target)))
    truth = truth.to(F64)
    tp = task_params(task, shape[-1], args)
    op1, y = measure_targets(task, seed, [target], truth, eta, **tp)
    opN = task_operator(task, seed, [target], repeat=N, **tp)
    post = gmm_posterior(prior, op1.dense(shape), y[0], eta)
    return {"truth": truth, "y": y, "op1": op1, "opN": opN, "post": post, "mmse": posterior_mean(post),
            "exact": exact_draws(post, seed, "exact", task, target, N),
            "reference": exact_draws(post, seed, "exact-reference", task, target, N), "params": tp}


def calibration(x: torch.Tensor, pb: dict, level: float) -> dict:
    """Sampler draws against the exact posterior: coverage of the truth and of exact draws, PSNR gap against the mean of
    N exact draws (and against the exact MMSE), energy distance to the exact draws."""
    from rwbench.metrics import image_quality as iq

    q = oracle_quality(x, pb["truth"][0], pb["mmse"], pb["exact"], level=level)
    t = to_unit(pb["truth"])
    psnr_ref = float(iq.psnr(to_unit(pb["reference"]).mean(0, keepdim=True), t)[0])
    q["psnr_exact_mean_n"] = psnr_ref
    q["psnr_gap_n"] = q["psnr_mean"] - psnr_ref
    return q


def reference_row(pb: dict, level: float) -> dict:
    """The same metrics for N independent exact draws: the coverage N exact draws reach, the exact-vs-exact distance."""
    return calibration(pb["reference"], pb, level)


def rw_sampler(prior, x_T, pb, eta, nfe, args, gens, c):
    """Conditional random walk (eq. 22) with K = nfe levels of the bench's ladder, tau = min(c sigma^2, 1/L)."""
    shape = prior.sample_shape
    sigmas = schedules.ladder(args.ladder, nfe, args.sigma_min, args.sigma_max)
    temps = schedules.linear_temperatures(nfe, args.T0, 1.0)
    setup = ConditionalSetup(pb["opN"], eta, (0.0, 1.0), shape, c, args.cap)
    x0 = x_T * (1.0 if args.paper_init else float(sigmas[0]))
    yN = pb["y"].expand(x_T.shape[0], *pb["y"].shape[1:]).contiguous()
    x = conditional_random_walk(prior, x0, yN, pb["opN"], eta, sigmas, temps, taus=setup.taus(sigmas), generator=gens)
    return x, {"c": c, "K": nfe, "ladder": args.ladder, "T0": args.T0, "cap": args.cap}, {"forward": nfe, "backward": 0, "total": nfe}


def run_cell(prior, name: str, task: str, eta: float, target: int, pb: dict, nfe, factor: float, args) -> dict:
    """One sampler at one NFE budget (None: its published NFE) and one sweep factor on one target."""
    shape, N = prior.sample_shape, args.n_samples
    indices = [sample_index(target, j, N) for j in range(N)]
    gens = stream_generators(args.seed, "noise", task, indices)
    x_T = randn_per_image(gens, shape)
    t0 = time.time()
    if name == "rw":
        K = int(nfe) if nfe is not None else args.K
        x, params, cost = rw_sampler(prior, x_T, pb, eta, K, args, gens, ROWS[name].scaled_step(args.c, factor))
    else:
        # the DAG's protocol (rwbench.run.runners): published setting at this NFE, the step parameter times the factor
        overrides = {}
        if name == "daps" and args.daps_langevin is not None:
            overrides["langevin_steps"] = args.daps_langevin
        if name == "daps" and args.daps_tau == "eta":
            overrides["tau"] = eta                   # the true likelihood instead of DAPS's fixed tau
        st = posterior_settings(name, task, shape, (0.0, 1.0), nfe=nfe, oracle=not args.clip, step_scale=factor,
                                **overrides)
        yN = pb["y"].expand(N, *pb["y"].shape[1:]).contiguous()
        x = run_posterior_sampler(name, prior, x_T, yN, pb["opN"], eta, st, data_range=(0.0, 1.0), generators=gens)
        params, cost = st, posterior_nfe(name, st)
    row = {"sampler": name, "task": task, "eta": eta, "target": target, "n": N, "nfe": cost["forward"],
           "nfe_backward": cost["backward"], "sweep": factor, "seconds": round(time.time() - t0, 2),
           "finite": bool(torch.isfinite(x).all()), "params": params}
    if row["finite"]:
        row.update(calibration(x, pb, args.level))
    return row, x


def summarise(rows: list[dict]) -> list[dict]:
    """Mean over targets (clusters) and a 95 % t interval half-width per (task, eta, sampler, nfe, sweep)."""
    from collections import defaultdict

    groups = defaultdict(list)
    for r in rows:
        if r.get("finite", True):
            groups[(r["task"], r["eta"], r["sampler"], r["nfe"], r["sweep"])].append(r)
    out = []
    for (task, eta, sampler, nfe, sweep), rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        rec = {"task": task, "eta": eta, "sampler": sampler, "nfe": nfe, "sweep": sweep, "targets": len(rs)}
        for key in ("coverage", "coverage_of_exact_draws", "psnr_gap_n", "psnr_gap", "energy_distance",
                    "ref_coverage", "ref_coverage_of_exact_draws", "ref_energy_distance"):
            vals = torch.tensor([float(r[key]) for r in rs if key in r], dtype=F64)
            if len(vals) == 0:
                continue
            rec[key] = float(vals.mean())
            rec[f"{key}_ci"] = _t_halfwidth(vals)
        out.append(rec)
    return out


def _t_halfwidth(vals: torch.Tensor) -> float:
    n = len(vals)
    if n < 2:
        return float("nan")
    from scipy import stats as st

    return float(st.t.ppf(0.975, n - 1) * vals.std(unbiased=True) / math.sqrt(n))


def main(argv: list[str] | None = None) -> int:
    """Run the oracle posterior benchmark and print one line per sampler x task x eta x target x NFE."""
    p = argparse.ArgumentParser(prog="python -m rwbench.tools.bench posterior", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--oracle", choices=("digits", "faces", "synthetic"), default="digits")
    p.add_argument("--resolution", type=int, default=8)
    p.add_argument("--components", type=int, default=8)
    p.add_argument("--reg-covar", type=float, default=1e-3)
    p.add_argument("--tasks", nargs="+", choices=TASK_CHOICES, default=list(TASK_CHOICES))
    p.add_argument("--etas", nargs="+", type=float, default=[0.05, 0.2], help="measurement noise on the oracle's [0, 1] scale")
    p.add_argument("--samplers", nargs="+", choices=SAMPLER_CHOICES, default=list(SAMPLER_CHOICES))
    p.add_argument("--nfe", nargs="+", default=["published"],
                   help="forward-NFE budgets shared by all samplers ('published': each sampler's own; rw: --K)")
    p.add_argument("--sweep", nargs="+", type=float, default=[1.0], help="factors on each sampler's main step parameter")
    p.add_argument("--n-samples", type=int, default=64, help="N draws per measurement")
    p.add_argument("--n-targets", type=int, default=4)
    p.add_argument("--level", type=float, default=CREDIBLE_LEVEL, help="nominal level of the per-pixel credible intervals")
    p.add_argument("--p", type=float, default=0.92, help="inpaint: missing fraction")
    p.add_argument("--factor", type=int, default=4, help="sr factor")
    p.add_argument("--blur-size", type=int, default=9)
    p.add_argument("--blur-std", type=float, default=1.5)
    p.add_argument("--K", type=int, default=1000, help="random-walk iterations at the 'published' budget")
    p.add_argument("--ladder", default="geometric")
    p.add_argument("--sigma-max", type=float, default=5.0)
    p.add_argument("--sigma-min", type=float, default=0.01)
    p.add_argument("--c", type=float, default=0.1)
    p.add_argument("--cap", choices=("lipschitz", "paper-code", "none"), default="lipschitz")
    p.add_argument("--T0", type=float, default=1.0)
    p.add_argument("--paper-init", action="store_true")
    p.add_argument("--clip", action="store_true", help="DPS: clamp x0_hat to [0, 1] (off for the oracle, see dps.clip_range)")
    p.add_argument("--daps-langevin", type=int, default=None, help="DAPS Langevin steps per level (published 100)")
    p.add_argument("--daps-tau", choices=("published", "eta"), default="published",
                   help="DAPS likelihood std: the published fixed tau or the true eta")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None, help="write rows and summary as JSON here")
    p.add_argument("--images", default=None, help="write the inverse-grid images of target 0 (safetensors) here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    budgets = [None if v == "published" else int(v) for v in args.nfe]
    t0 = time.time()
    prior, source = build_oracle(args.oracle, args.resolution, args.components, args.reg_covar, args.seed)
    print(f"oracle: {source}; {len(prior.weights)} components, shape {prior.sample_shape}; etas {args.etas} on [0,1]; "
          f"N {args.n_samples}; targets {args.n_targets}; seed {args.seed}; fitted in {time.time() - t0:.1f}s")
    print(f"{'sampler':8s} {'task':7s} {'eta':>5s} {'tgt':>3s} {'nfe':>5s} {'sweep':>5s} {'cover':>6s} {'ref':>6s} "
          f"{'cov_ex':>6s} {'ref':>6s} {'gapN_dB':>7s} {'energy':>8s} {'ref':>8s} {'sec':>6s}")
    rows, images = [], {}
    for task in args.tasks:
        for eta in args.etas:
            for t in range(args.n_targets):
                pb = problem(prior, task, eta, t, args)
                ref = reference_row(pb, args.level)
                if t == 0:
                    key = f"{task}/eta={eta}"
                    images[f"{key}/truth"] = pb["truth"][0]
                    # for display: A^T y / A^T A 1 (each pixel's weighted average of the measurements it enters)
                    weight = pb["op1"].AT(pb["op1"].A(torch.ones_like(pb["truth"])))
                    shown = pb["op1"].AT(pb["y"]) / weight.clamp(min=1e-12)
                    images[f"{key}/measurement"] = torch.where(weight > 1e-12, shown, torch.zeros_like(shown))[0]
                    images[f"{key}/exact_mean"] = pb["mmse"]
                    images[f"{key}/exact_draw"] = pb["exact"][0]
                for name in args.samplers:
                    for nfe in budgets:
                        for factor in args.sweep:
                            row, x = run_cell(prior, name, task, eta, t, pb, nfe, factor, args)
                            row.update({"ref_" + k: v for k, v in ref.items() if k in (
                                "coverage", "coverage_of_exact_draws", "energy_distance", "psnr_mean")})
                            rows.append(row)
                            if t == 0 and row["finite"]:
                                images[f"{key}/{name}/nfe={row['nfe']}/sweep={factor}/mean"] = x.mean(0)
                                images[f"{key}/{name}/nfe={row['nfe']}/sweep={factor}/draw"] = x[0]
                            if row["finite"]:
                                print(f"{name:8s} {task:7s} {eta:5.2f} {t:3d} {row['nfe']:5d} {factor:5.2f} {row['coverage']:6.3f} "
                                      f"{ref['coverage']:6.3f} {row['coverage_of_exact_draws']:6.3f} "
                                      f"{ref['coverage_of_exact_draws']:6.3f} {row['psnr_gap_n']:7.2f} "
                                      f"{row['energy_distance']:8.4f} {ref['energy_distance']:8.4f} {row['seconds']:6.1f}", flush=True)
                            else:
                                print(f"{name:8s} {task:7s} {eta:5.2f} {t:3d} diverged (non-finite samples)", flush=True)
    summary = summarise(rows)
    if args.json:
        from rwbench.io import write_json

        write_json(args.json, {"args": vars(args), "oracle": source, "rows": rows, "summary": summary})
    if args.images:
        from rwbench.io import save_safetensors

        save_safetensors(args.images, {k: v.to(F64) for k, v in images.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
