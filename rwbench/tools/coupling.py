"""How much coupled step noise (rwbench.core.brownian) tightens paired comparisons on the exact digits oracle.

The default config's `nfe-oracle` cells - the simplified walk (sigmoid ladder, c 0.5, T0 0.4, K 100) against native DDPM
(1000 steps) - are sampled for the same images and seeds with independent and with coupled noise (both from the exact
start, the oracle models' default). Per pair and metric the tool writes the sd of the paired difference a - b:
- variance_ratio: the per-image terms |x_i - mu|^2 / tr(Sigma) (mu, Sigma the mixture's mean and covariance); the sd
  over the images of all seeds (n = images x seeds);
- energy_distance: the energy distance of each seed's uint8 samples to the oracle's exact reference; the sd over the
  seeds (n = seeds).
ratio = sd_uncoupled / sd_coupled (> 1: coupling helps). Columns: pair, metric, n, sd_uncoupled, sd_coupled, ratio.

    python -m rwbench.tools.coupling --oracle-dir results/embedded/oracle --out reports/tables/coupling.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

F64 = torch.float64
MODES = ("independent", "coupled")


def cells(oracle_dir: str, n: int, seeds: list[int]) -> dict:
    """The two nfe-oracle cells per noise mode as run specs (rwbench.plan.grid), keyed (mode, sampler) -> [spec]."""
    from rwbench.plan import grid

    model = {"family": "oracle", "dataset": "digits", "resolution": 16, "channels": 1, "data_range": [0, 1],
             "checkpoint": str(oracle_dir), "sigma_min": 0.01, "sigma_max": 8.5, "start": "exact",
             "reference": {"kind": "file", "path": str(Path(oracle_dir) / "digits-oracle-reference.safetensors")}}
    out: dict = {}
    for mode in MODES:
        exp = {"models": ["digits-oracle"], "samplers": ["simplified", "native-ddpm"], "schedules": ["sigmoid"],
               "steps": [100], "sampler_options": {"native-ddpm": {"steps": 1000}}, "c": [0.5], "T0": [0.4],
               "n_images": n, "seeds": seeds, "noise": mode}
        config = {"seed": 0, "shard_size": n, "models": {"digits-oracle": model}, "experiments": {"nfe-oracle": exp}}
        for spec in grid.expand(config).values():
            out.setdefault((mode, spec["sampler"]), []).append(spec)
    return out


def measure(oracle_dir: str, n: int = 128, seeds=tuple(range(4))) -> list[dict]:
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
    specs = cells(oracle_dir, n, list(seeds))
    ratio: dict = {}
    energy: dict = {}
    for (mode, sampler), runs in specs.items():
        for spec in runs:
            with torch.no_grad():
                shard = sample_images(spec, list(range(n)), denoiser=oracle)
            x = shard["sample"].to(F64).reshape(n, -1)
            ratio.setdefault((mode, sampler), []).append(((x - mu) ** 2).sum(1) / trace)
            pixels = shard["sample_uint8"].to(F64).reshape(n, -1) / 255.0
            energy.setdefault((mode, sampler), []).append(energy_distance(pixels, ref))
    rows = []
    pair = "simplified-K100 vs native-ddpm-K1000"
    for metric, values in (("variance_ratio", ratio), ("energy_distance", energy)):
        sds, count = {}, 0
        for mode in MODES:
            a, b = values[(mode, "simplified")], values[(mode, "native-ddpm")]
            diff = torch.cat(a) - torch.cat(b) if metric == "variance_ratio" else torch.tensor(a, dtype=F64) - torch.tensor(b, dtype=F64)
            sds[mode], count = float(diff.std()), diff.numel()
        rows.append({"pair": pair, "metric": metric, "n": count, "sd_uncoupled": sds["independent"],
                     "sd_coupled": sds["coupled"], "ratio": sds["independent"] / sds["coupled"]})
    return rows


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
