"""`rwbench equivalence` (CLI; the work is done by rwbench.tools.equivalence)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

PAIRS = ("ddpm_beta,ddpm_beta_tilde,ncsn,ve_sde,vp_sde,euler,euler_ancestral,euler_ancestral_eta0.5,ddim,ddim_eta0.5,"
         "ddim_eta1,ncsn_released")   # every pair of rwbench.tools.equivalence.PAIRS (tests/test_cli.py checks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench equivalence`."""
    parser.add_argument("--out", default="results/tables/equivalence.csv", help="output CSV")
    parser.add_argument("--steps", type=int, default=1000,
                        help="iterations per sampler (DDPM: T; DDIM: steps respaced from T = 1000; NCSN: 10 levels x steps/10; "
                             "Euler(-ancestral): steps levels, then 0)")
    parser.add_argument("--batch", type=int, default=4, help="images per run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic mixture, initial draw and noise")
    parser.add_argument("--oracle", default=None,
                        help="GaussianMixtureDenoiser file (safetensors, from `rwbench prepare`); default: a small "
                             "synthetic 16-pixel mixture drawn from --seed")
    parser.add_argument("--sigma-max", type=float, default=50.0, help="largest level of the VE-SDE and Euler(-ancestral) geometric ladders")
    parser.add_argument("--pairs", default=PAIRS, help="comma list of pairs")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Write the per-step deviation table and print one summary line per pair."""
    import torch

    from rwbench.models.denoisers import GaussianMixtureDenoiser
    from rwbench.tools.equivalence import equivalence_table, synthetic_mixture
    from rwbench.io import atomic_write

    torch.set_num_threads(1)
    oracle = GaussianMixtureDenoiser.load(args.oracle) if args.oracle else synthetic_mixture(args.seed)
    pairs = [s.strip() for s in args.pairs.split(",") if s.strip()]
    t0 = time.perf_counter()
    frame = equivalence_table(oracle, args.steps, args.batch, args.seed, args.sigma_max, pairs,
                              progress=not args.no_progress)
    out = Path(args.out)
    with atomic_write(out, "w") as handle:
        frame.to_csv(handle, index=False)
    seconds = time.perf_counter() - t0
    for name, part in frame.groupby("pair", sort=False):
        print(f"pair={name} steps={len(part)} exact={bool(part['exact'].iloc[0])} "
              f"max_abs_dev={part['max_abs_dev'].max():.3e} max_rel_dev={part['max_rel_dev'].max():.3e}")
    print(f"{out}: {len(frame)} rows in {seconds:.1f} s")
    return 0
