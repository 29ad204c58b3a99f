"""How much coupled step noise (rwbench.core.brownian) tightens paired comparisons on the exact digits oracle.

The default config's `nfe-oracle` cells - the simplified walk (sigmoid ladder, c 0.5, T0 0.4, K 100) against native DDPM
(1000 steps) - are sampled for the same images and seeds with independent and with coupled noise (both from the exact
start, the oracle models' default). Per pair and metric the tool writes the sd of the paired difference a - b:
- variance_ratio: the per-image terms |x_i - mu|^2 / tr(Sigma) (mu, Sigma the mixture's mean and covariance); the sd
  over the images of all seeds (n = images x seeds);
- energy_distance: the energy distance of each seed's uint8 samples to the oracle's exact reference; the sd over the
  seeds (n = seeds).
ratio = sd_uncoupled / sd_coupled (> 1: coupling helps). Columns: pair, metric, n, sd_uncoupled, sd_coupled, ratio,
then the exact prediction for the variance ratio (closed_form_*; empty for the energy distance): the walk is linear per
mixture component, so rwbench.core.walk_moments.coupled_covariance gives each component's joint Gaussian law of the
two outputs and the sd of the paired difference follows exactly, if the image ends in the component its exact start
drew (no component switching). It is what perfect path coupling of these two samplers can reach: their noise
kernels weight different parts of the path (the walk's last levels, DDPM's levels near each direction's sd), so the
reduction is bounded by the samplers, not by the generator.

    python -m rwbench.tools.coupling --oracle-dir results/embedded/oracle --out reports/tables/coupling.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

F64 = torch.float64
MODES = ("independent", "coupled")


# the cells the tool samples: name -> (sampler, experiment keys); the oracle model is the default config's digits-oracle
CELLS = {
    "simplified-K100": ("simplified", {"schedules": ["sigmoid"], "steps": [100], "c": [0.5], "T0": [0.4]}),
    "native-ddpm-K1000": ("native-ddpm", {"steps": [1000]}),
    "native-ddpm-K100": ("native-ddpm", {"steps": [100]}),
    "euler-ancestral-K100": ("euler-ancestral", {"steps": [100]}),
    "euler-ancestral-K25": ("euler-ancestral", {"steps": [25]}),
}
# the headline pair (the default config's nfe-oracle cells), then two same-sampler step-count pairs
PAIRS = (("simplified-K100", "native-ddpm-K1000"), ("native-ddpm-K100", "native-ddpm-K1000"),
         ("euler-ancestral-K25", "euler-ancestral-K100"))


def cells(oracle_dir: str, n: int, seeds: list[int], names=tuple(CELLS)) -> dict:
    """The tool's cells per noise mode as run specs (rwbench.plan.grid), keyed (mode, cell name) -> [spec per seed]."""
    from rwbench.plan import grid

    model = {"family": "oracle", "dataset": "digits", "resolution": 16, "channels": 1, "data_range": [0, 1],
             "checkpoint": str(oracle_dir), "sigma_min": 0.01, "sigma_max": 8.5, "start": "exact",
             "reference": {"kind": "file", "path": str(Path(oracle_dir) / "digits-oracle-reference.safetensors")}}
    out: dict = {}
    for mode in MODES:
        for name in names:
            sampler, keys = CELLS[name]
            exp = {"models": ["digits-oracle"], "samplers": [sampler], **keys, "n_images": n, "seeds": seeds,
                   "noise": mode}
            config = {"seed": 0, "shard_size": n, "models": {"digits-oracle": model}, "experiments": {"coupling": exp}}
            out[(mode, name)] = sorted(grid.expand(config).values(), key=lambda spec: spec["seed"])
    return out


def template_twin(spec: dict, oracle):
    """The run as a walk (rwbench.core.presets.WalkParams) with the same path intervals: native DDPM is the template
    `ddpm` row (Table II, equal to rounding: tests/test_presets.py), Euler-ancestral its walk form on the solver's
    ladder (k-diffusion's sigma_up / sigma_down; presets.euler_ancestral)."""
    from rwbench.core import presets
    from rwbench.run import runners

    if spec["sampler"] == "native-ddpm":
        return runners.walk_params({**spec, "sampler": "ddpm"}, oracle)
    if spec["sampler"] == "euler-ancestral":
        return presets.euler_ancestral(runners.solver_sigmas(spec, oracle), float(spec["params"]["ancestral_eta"]))
    return runners.walk_params(spec, oracle)


def measure(oracle_dir: str, n: int = 128, seeds=tuple(range(4)), pairs=PAIRS) -> list[dict]:
    """Rows of the coupling table (see the module docstring)."""
    from rwbench.io import load_safetensors
    from rwbench.metrics.distances import energy_distance
    from rwbench.models.oracle import noised_moments, oracle_file, reference_file
    from rwbench.models.denoisers import GaussianMixtureDenoiser
    from rwbench.run.sample import sample_images

    oracle = GaussianMixtureDenoiser.load(oracle_file(oracle_dir, "digits"))
    ref_path = reference_file(oracle_dir, "digits")
    if not ref_path.is_file():
        raise FileNotFoundError(f"{ref_path}: the oracle's exact reference is missing; run `rwbench prepare`")
    ref = next(iter(load_safetensors(ref_path).values())).to(F64).reshape(-1, oracle.dim) / 255.0
    mu, cov = noised_moments(oracle, 0.0)
    trace = float(cov.diagonal().sum())
    names = sorted({name for pair in pairs for name in pair}, key=list(CELLS).index)
    specs = cells(oracle_dir, n, list(seeds), names)
    ratio: dict = {}
    energy: dict = {}
    for (mode, name), runs in specs.items():
        for spec in runs:
            print(f"coupling: {mode} {name} seed {spec['seed']}", flush=True)
            with torch.no_grad():
                shard = sample_images(spec, list(range(n)), denoiser=oracle)
            x = shard["sample"].to(F64).reshape(n, -1)
            ratio.setdefault((mode, name), []).append(((x - mu) ** 2).sum(1) / trace)
            pixels = shard["sample_uint8"].to(F64).reshape(n, -1) / 255.0
            energy.setdefault((mode, name), []).append(energy_distance(pixels, ref))
    rows = []
    for name_a, name_b in pairs:
        exact = closed_form(oracle, specs[("coupled", name_a)][0], specs[("coupled", name_b)][0])
        for metric, values in (("variance_ratio", ratio), ("energy_distance", energy)):
            sds, count = {}, 0
            for mode in MODES:
                a, b = values[(mode, name_a)], values[(mode, name_b)]
                if metric == "variance_ratio":
                    diff = torch.cat(a) - torch.cat(b)
                else:
                    diff = torch.tensor(a, dtype=F64) - torch.tensor(b, dtype=F64)
                sds[mode], count = float(diff.std()), diff.numel()
            closed = exact if metric == "variance_ratio" else {}
            rows.append({"pair": f"{name_a} vs {name_b}", "metric": metric, "n": count,
                         "sd_uncoupled": sds["independent"], "sd_coupled": sds["coupled"],
                         "ratio": sds["independent"] / sds["coupled"],
                         "closed_form_sd_uncoupled": closed.get("independent", ""),
                         "closed_form_sd_coupled": closed.get("coupled", ""),
                         "closed_form_ratio": closed["independent"] / closed["coupled"] if closed else ""})
    return rows


def closed_form(oracle, spec_a: dict, spec_b: dict) -> dict:
    """{noise mode: sd of the paired difference of the per-image variance-ratio terms} for two runs on the mixture
    oracle, exact if every image ends in the component of its exact start: per component j (weight w_j) the two
    outputs (their walk forms, template_twin) are jointly Gaussian around m_j (rwbench.core.walk_moments.
    coupled_covariance in its eigenbasis), so Var(diff) = sum_j w_j Var_j + Var_j(E_j diff), with Var_j from
    paired_statistic_variance (offsets m_j - mu)."""
    from rwbench.core.walk_moments import coupled_covariance, paired_statistic_variance
    from rwbench.models.oracle import noised_moments

    walks = [template_twin(spec, oracle) for spec in (spec_a, spec_b)]
    mu, cov = noised_moments(oracle, 0.0)
    trace = float(cov.diagonal().sum())
    w = oracle.weights.to(F64)
    out = {}
    for mode in MODES:
        var_j, mean_j = [], []
        for j in range(w.numel()):
            m = coupled_covariance(walks[0], walks[1], oracle.eigvals[j].to(F64).clamp_min(0.0), noise=mode)
            offsets = oracle.eigvecs[j].to(F64).T @ (oracle.means[j].to(F64) - mu.to(F64))
            var_j.append(paired_statistic_variance(m, offsets))
            mean_j.append((m["var_a"] - m["var_b"]).sum())
        var_j, mean_j = torch.stack(var_j), torch.stack(mean_j)
        total = (w * var_j).sum() + (w * mean_j**2).sum() - (w * mean_j).sum() ** 2
        out[mode] = float(total.sqrt()) / trace
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.coupling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oracle-dir", required=True, help="folder of `rwbench prepare`'s oracle (digits-gmm.safetensors)")
    parser.add_argument("--out", required=True, help="CSV to write (pair, metric, n, sd_uncoupled, sd_coupled, ratio)")
    parser.add_argument("--n", type=int, default=128, help="images per cell (default 128, the nfe-oracle cells')")
    parser.add_argument("--seeds", type=int, default=4, help="replicate seeds 0..S-1 (default 4: under 3 min of CPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.n < 2 or args.seeds < 2:
        parser.error("--n and --seeds: need at least 2 (an sd needs two values)")
    torch.set_num_threads(args.threads)
    import csv

    from rwbench.io import atomic_write

    t0 = time.perf_counter()
    rows = measure(args.oracle_dir, args.n, tuple(range(args.seeds)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
