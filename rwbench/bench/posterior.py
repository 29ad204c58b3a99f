"""Oracle posterior benchmark: random walk (eq. 22) and DPS against the exact Gaussian-mixture posterior (issue 4, item 6).

For each task (random inpainting 92 %, bicubic SR x4) and each target drawn from the mixture prior, both samplers draw
N samples for one measurement y; we print PSNR(mean of N) - PSNR(exact MMSE), 90 % credible-interval coverage of the
ground truth and of exact posterior draws, and the energy distance / sliced W2 to N exact posterior draws.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rwbench import schedules
from rwbench.baselines.dps import default_zeta, dps
from rwbench.denoisers import GaussianMixtureDenoiser, eps_from_denoiser
from rwbench.inverse import ConditionalSetup, conditional_random_walk
from rwbench.operators import BicubicSR, RandomInpainting
from rwbench.posterior import gmm_posterior, posterior_mean
from rwbench.posterior_metrics import oracle_quality, posterior_quality
from rwbench.rng import image_generators, image_seed, randn_per_image

F64 = torch.float64


def build_oracle(name: str, resolution: int, components: int, reg_covar: float, seed: int) -> tuple[GaussianMixtureDenoiser, str]:
    """Gaussian-mixture prior: fitted to the embedded digits/faces (rwbench.oracle.fit_gmm, else sklearn) or synthetic."""
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
    try:
        from rwbench.oracle import fit_gmm  # the embedded-data helper's fitter, when present
        return fit_gmm(images, components, reg_covar, seed), "rwbench.oracle.fit_gmm"
    except ImportError:
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(components, covariance_type="full", reg_covar=reg_covar, random_state=seed)
        gm.fit(images.reshape(len(images), -1).numpy())
        prior = GaussianMixtureDenoiser(torch.from_numpy(gm.weights_), torch.from_numpy(gm.means_),
                                        torch.from_numpy(gm.covariances_), sample_shape=shape)
        return prior, f"sklearn GaussianMixture(full, reg_covar={reg_covar}) on {name} train {len(images)} images"


def run_task(prior, task: str, target_index: int, args) -> list[dict]:
    """One target: measurement, exact posterior, RW and DPS draws, metrics."""
    shape = prior.sample_shape
    N = args.n_samples
    g = torch.Generator().manual_seed(image_seed(args.seed, "target", target_index))
    truth = prior.sample(1, g).to(F64)                    # ground truth drawn from the prior: coverage is calibrated
    mask_seed = image_seed(args.seed, "mask", target_index)
    if task == "inpainting":
        op1, opN = RandomInpainting(args.p, seeds=[mask_seed]), RandomInpainting(args.p, seeds=[mask_seed] * N)
    else:
        op1 = opN = BicubicSR(args.factor)
    y = op1.measure(truth, args.eta, image_generators(args.seed, f"measure-{task}", [target_index]))
    post = gmm_posterior(prior, op1.dense(shape), y[0], args.eta)
    exact = post.sample(N, torch.Generator().manual_seed(image_seed(args.seed, "exact", target_index))).reshape(N, *shape)
    mmse = posterior_mean(post)
    yN = y.expand(N, *y.shape[1:]).contiguous()
    rows = []
    reference = exact if args.exact_baseline else None
    if reference is not None:
        extra = post.sample(N, torch.Generator().manual_seed(image_seed(args.seed, "exact2", target_index))).reshape(N, *shape)
        rows.append(_row("exact", task, target_index, extra, truth, mmse, exact, 0.0, {}))
    setup = ConditionalSetup(opN, args.eta, (0.0, 1.0), shape, args.c, args.cap)
    if "rw" in args.samplers:
        K = args.K
        sigmas = schedules.ladder(args.ladder, K, args.sigma_min, args.sigma_max)
        if args.hold:
            sigmas = torch.cat([sigmas, sigmas[-1:].repeat(args.hold)])
        temps = schedules.linear_temperatures(sigmas.numel(), args.T0, 1.0)
        gens = image_generators(args.seed, f"rw-{task}-{target_index}", range(N))
        x0 = randn_per_image(gens, shape) * (1.0 if args.paper_init else float(sigmas[0]))
        t0 = time.time()
        x = conditional_random_walk(prior, x0, yN, opN, args.eta, sigmas, temps, taus=setup.taus(sigmas), generator=gens)
        rows.append(_row("rw", task, target_index, x, truth, mmse, exact, time.time() - t0,
                         {**setup.to_dict(), "K": int(sigmas.numel()), "ladder": args.ladder, "sigma_max": args.sigma_max,
                          "sigma_min": args.sigma_min, "T0": args.T0, "hold": args.hold}))
    if "dps" in args.samplers:
        betas = schedules.linear_betas(args.dps_steps)
        eps_fn = eps_from_denoiser(prior, schedules.alphas_cumprod(betas))
        zeta = args.dps_zeta if args.dps_zeta is not None else default_zeta(task)
        gens = image_generators(args.seed, f"dps-{task}-{target_index}", range(N))
        xT = randn_per_image(gens, shape)
        t0 = time.time()
        x = dps(eps_fn, xT, yN, opN, betas, zeta, generators=gens)
        rows.append(_row("dps", task, target_index, x, truth, mmse, exact, time.time() - t0, {"zeta": zeta, "T": args.dps_steps}))
    return rows


def _row(sampler, task, target, x, truth, mmse, exact, seconds, params) -> dict:
    finite = bool(torch.isfinite(x).all())
    row = {"sampler": sampler, "task": task, "target": target, "n": x.shape[0], "seconds": round(seconds, 1), "finite": finite}
    if finite:
        row.update(oracle_quality(x, truth[0], mmse, exact))
        row.update({k: v for k, v in posterior_quality(x, truth[0]).items() if k not in row})
    row["params"] = params
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the oracle posterior benchmark and print one line per sampler x task x target."""
    p = argparse.ArgumentParser(prog="python -m rwbench.bench posterior", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--oracle", choices=("digits", "faces", "synthetic"), default="digits")
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--components", type=int, default=8)
    p.add_argument("--reg-covar", type=float, default=1e-3)
    p.add_argument("--tasks", nargs="+", choices=("inpainting", "sr"), default=["inpainting", "sr"])
    p.add_argument("--samplers", nargs="+", choices=("rw", "dps"), default=["rw", "dps"])
    p.add_argument("--n-samples", type=int, default=100, help="N draws per measurement (paper: 500)")
    p.add_argument("--n-targets", type=int, default=1)
    p.add_argument("--eta", type=float, default=0.2, help="measurement noise on the oracle's [0, 1] scale")
    p.add_argument("--p", type=float, default=0.92, help="inpainting: missing fraction")
    p.add_argument("--factor", type=int, default=4, help="SR factor")
    p.add_argument("--K", type=int, default=2000, help="random-walk iterations (before --hold)")
    p.add_argument("--ladder", default="geometric")
    p.add_argument("--sigma-max", type=float, default=5.0)
    p.add_argument("--sigma-min", type=float, default=0.01)
    p.add_argument("--hold", type=int, default=0, help="extra iterations at sigma_min")
    p.add_argument("--c", type=float, default=0.1)
    p.add_argument("--cap", choices=("lipschitz", "paper-code", "none"), default="lipschitz")
    p.add_argument("--T0", type=float, default=1.0, help="temperature at k=0 (linear to 1; the paper's configs use 0)")
    p.add_argument("--paper-init", action="store_true", help="start from N(0, I) instead of N(0, sigma_0^2 I)")
    p.add_argument("--dps-steps", type=int, default=1000)
    p.add_argument("--dps-zeta", type=float, default=None, help="default: DPS's published value per task")
    p.add_argument("--exact-baseline", action="store_true", help="also score a second set of exact draws (the noise floor)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None, help="write the rows as JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    prior, source = build_oracle(args.oracle, args.resolution, args.components, args.reg_covar, args.seed)
    print(f"oracle: {source}; {len(prior.weights)} components, shape {prior.sample_shape}; eta {args.eta} on [0,1]; "
          f"N {args.n_samples}; fitted in {time.time() - t0:.1f}s")
    rows = []
    header = f"{'sampler':8s} {'task':11s} {'tgt':>3s} {'psnr_mean':>9s} {'psnr_mmse':>9s} {'gap_dB':>7s} {'cover':>6s} {'cov_ex':>6s} {'energy':>8s} {'sw2':>7s} {'sec':>6s}"
    print(header)
    for task in args.tasks:
        for t in range(args.n_targets):
            for row in run_task(prior, task, t, args):
                rows.append(row)
                if row["finite"]:
                    print(f"{row['sampler']:8s} {task:11s} {t:3d} {row['psnr_mean']:9.2f} {row['psnr_exact_mmse']:9.2f} "
                          f"{row['psnr_gap']:7.2f} {row['coverage']:6.3f} {row['coverage_of_exact_draws']:6.3f} "
                          f"{row['energy_distance']:8.4f} {row['sliced_wasserstein']:7.4f} {row['seconds']:6.1f}", flush=True)
                else:
                    print(f"{row['sampler']:8s} {task:11s} {t:3d} diverged (non-finite samples)", flush=True)
    if args.json:
        from rwbench.io import atomic_write

        with atomic_write(args.json, "w") as f:
            json.dump({"args": vars(args), "oracle": source, "rows": rows}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
