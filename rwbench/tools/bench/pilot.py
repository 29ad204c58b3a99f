"""Sample-size pilot (docs/statistics.md): energy distance of oracle cells to the exact reference draws, per seed.

`python -m rwbench.tools.bench pilot --oracle-dir results/embedded/oracle --n 128 --seeds 0,1,2 --cells TK0.2,TK1.0`
samples each named cell of the digits oracle for every seed (rwbench.run.sample.sample_images on a spec from
rwbench.plan.grid.expand_experiment, so image i shares its seed across cells), scores the uint8 samples against the
prepared exact reference draws (rwbench.metrics.distances energy parts) and prints one line per (cell, seed), then per pair of
cells the paired differences per seed with their mean and sd. `exact` scores fresh exact mixture draws (the floor).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

# named cells: experiment axes of the digits oracle (100 steps unless stated)
CELLS = {
    "TK0.2": dict(samplers=["simplified"], schedules=["pretrained"], steps=[100], c=[0.5], T0=[0.4], TK=[0.2]),
    "TK1.0": dict(samplers=["simplified"], schedules=["pretrained"], steps=[100], c=[0.5], T0=[0.4], TK=[1.0]),
    "linear100": dict(samplers=["simplified"], schedules=["linear"], steps=[100], c=[0.5], T0=[0.4]),
    "sigmoid100": dict(samplers=["simplified"], schedules=["sigmoid"], steps=[100], c=[0.5], T0=[0.4]),
    "ddpm1000": dict(samplers=["native-ddpm"], schedules=["sigmoid"], steps=[1000]),
}


def oracle_config(oracle_dir: str) -> dict:
    """A config with the digits oracle whose checkpoint and reference are the prepared files in oracle_dir."""
    return {"results_dir": ".", "models": {"digits-oracle": {
        "family": "oracle", "dataset": "digits", "resolution": 16, "channels": 1, "data_range": [0, 1],
        "checkpoint": oracle_dir, "sigma_min": 0.01, "sigma_max": 8.5,
        "reference": {"kind": "file", "path": f"{oracle_dir}/digits-oracle-reference.safetensors"}}}}


def energy(samples_uint8: torch.Tensor, reference: torch.Tensor, yy: float) -> float:
    """Energy distance of uint8 samples (on [0, 1]) to reference images on [0, 1] (rwbench.metrics.distances.energy_from_parts)."""
    from rwbench.metrics.distances import energy_from_parts, pairwise_distances

    x = samples_uint8.double().div(255).flatten(1)
    cross = pairwise_distances(x, reference.flatten(1)).mean(1)
    return energy_from_parts(cross, pairwise_distances(x, x), yy)


def main(argv=None) -> int:
    """Print energy distances per (cell, seed) and paired differences per seed."""
    from safetensors.torch import load_file

    from rwbench.run.sample import sample_images
    from rwbench.models.denoisers import GaussianMixtureDenoiser
    from rwbench.plan.grid import expand_experiment
    from rwbench.models.oracle import oracle_samples_uint8
    from rwbench.metrics.distances import mean_pairwise_distance

    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.bench pilot", description=__doc__)
    parser.add_argument("--oracle-dir", default="results/embedded/oracle", help="`rwbench prepare` output folder")
    parser.add_argument("--n", type=int, default=128, help="images per cell and seed")
    parser.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    parser.add_argument("--cells", default="TK0.2,TK1.0", help=f"comma list of {','.join(CELLS)},exact")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in names if c not in CELLS and c != "exact"]
    if unknown:
        raise ValueError(f"--cells: unknown cell(s) {', '.join(unknown)}; choose from {', '.join(CELLS)}, exact")
    reference = load_file(f"{args.oracle_dir}/digits-oracle-reference.safetensors")["images"].double().div(255)
    yy = mean_pairwise_distance(reference)
    config = oracle_config(args.oracle_dir)
    values: dict[str, dict[int, float]] = {}
    for name in names:
        for seed in seeds:
            start = time.perf_counter()
            if name == "exact":      # the exact-sampler floor: fresh exact draws through the same uint8 conversion
                oracle = GaussianMixtureDenoiser.load(f"{args.oracle_dir}/digits-gmm.safetensors")
                images = oracle_samples_uint8(oracle, args.n, seed=1000 + seed)
            else:
                config["experiments"] = {"pilot": dict(models=["digits-oracle"], n_images=args.n, seed=seed,
                                                       shard_size=args.n, **CELLS[name])}
                spec = expand_experiment(config, "pilot")[0]
                images = sample_images(spec, list(range(args.n)))["sample_uint8"]
            values.setdefault(name, {})[seed] = energy(images, reference, yy)
            print(f"cell={name} seed={seed} n={args.n} energy_distance={values[name][seed]:.6f} "
                  f"seconds={time.perf_counter() - start:.1f}", flush=True)
    for name, per_seed in values.items():
        v = np.array(list(per_seed.values()))
        print(f"cell={name} mean={v.mean():.6f} sd={v.std(ddof=1) if len(v) > 1 else float('nan'):.6f}")
    for a, b in zip(names[:-1], names[1:]):
        d = np.array([values[a][s] - values[b][s] for s in seeds])
        print(f"pair={a}-{b} per_seed={np.round(d, 6).tolist()} mean={d.mean():.6f} "
              f"sd={d.std(ddof=1) if len(d) > 1 else float('nan'):.6f}")
    return 0
