"""`rwbench evaluate` (CLI; the work is done by rwbench.metrics.evaluate)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rwbench.plan.config import node
from rwbench.metrics.options import EvaluateOptions

D = EvaluateOptions()   # every default: the config schema's, or evaluate's own (rwbench.metrics.options)
EXTRACTORS = node("metrics.extractor")["enum"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench evaluate`."""
    parser.add_argument("--run", required=True, help="run directory (results/runs/<run_id>)")
    parser.add_argument("--reference-cache", default=D.reference_cache, help="directory of reference statistics")
    parser.add_argument("--extractor", default=D.extractor, choices=EXTRACTORS,
                        help="feature extractor for FID/KID/PRC (default: digits-cnn for digits, else Inception)")
    parser.add_argument("--extractor-weights", default=D.extractor_weights,
                        help="weights file for the extractor (else $RWBENCH_INCEPTION_WEIGHTS / $RWBENCH_DIGITS_CLASSIFIER / hub cache)")
    parser.add_argument("--no-download", action="store_true", help="never try to download Inception weights")
    parser.add_argument("--lpips", action=argparse.BooleanOptionalAction, default=D.lpips,
                        help="LPIPS of inverse-task samples (--no-lpips: skip it, no backbone weights needed)")
    parser.add_argument("--lpips-net", default=D.lpips_net, choices=node("metrics.lpips_net")["enum"], help="LPIPS backbone")
    parser.add_argument("--no-prc", action="store_true", help="skip precision/recall")
    parser.add_argument("--prc-neighborhood", type=int, default=D.prc_neighborhood, help="k of the k-NN balls in precision/recall")
    parser.add_argument("--device", default=D.device, help="cpu or cuda[:i]")
    parser.add_argument("--batch-size", type=int, default=D.batch_size, help="feature extraction batch size")
    parser.add_argument("--max-diverged", type=float, default=D.max_diverged,
                        help="diverged fraction above which image metrics are recorded as NaN")
    parser.add_argument("--allow-partial", action="store_true", help="evaluate even if some shards are missing")
    parser.add_argument("--n-boot", type=int, default=D.n_boot,
                        help="bootstrap resamples for 95%% intervals (set metrics use at most 200)")
    parser.add_argument("--seed", type=int, default=D.seed, help="seed of the bootstrap resamples")
    parser.add_argument("--fidelity", action=argparse.BooleanOptionalAction, default=D.fidelity,
                        help="posterior fidelity of inverse runs with several draws per target: calibration curves, "
                             "MMSE gap, score-KSD (loads the run's model; docs/posterior-fidelity.md)")


def run(args: argparse.Namespace) -> int:
    """Evaluate one run and print where metrics.csv went."""
    from rwbench.metrics.evaluate import evaluate_run

    from rwbench.run.devices import pin_device

    args.device = pin_device(args.device)
    options = EvaluateOptions(reference_cache=args.reference_cache, extractor=args.extractor,
                              extractor_weights=args.extractor_weights, lpips=args.lpips,
                              lpips_net=args.lpips_net, n_boot=args.n_boot, prc=not args.no_prc,
                              prc_neighborhood=args.prc_neighborhood, device=args.device,
                              batch_size=args.batch_size, max_diverged=args.max_diverged,
                              allow_download=not args.no_download, allow_partial=args.allow_partial, seed=args.seed,
                              fidelity=args.fidelity)
    frame = evaluate_run(args.run, options)
    for row in frame.itertuples():
        value = "nan" if math.isnan(row.value) else f"{row.value:.6g}"
        ci = "" if math.isnan(row.ci_lo) else f"  [{row.ci_lo:.4g}, {row.ci_hi:.4g}]"
        print(f"{row.metric:28s} {value:>12s}{ci}  n={row.n} n_ref={row.n_ref}")
    print(Path(args.run) / "metrics.csv")
    return 0
