"""`rwbench evaluate` (CLI; the work is done by rwbench.metrics.evaluate)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rwbench.config import node, defaults

METRICS = defaults("metrics")
EXTRACTORS = node("metrics.extractor")["enum"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench evaluate`."""
    parser.add_argument("--run", required=True, help="run directory (results/runs/<run_id>)")
    parser.add_argument("--reference-cache", default="results/reference", help="directory of reference statistics")
    parser.add_argument("--extractor", default=None, choices=EXTRACTORS,
                        help="feature extractor for FID/KID/PRC (default: digits-cnn for digits, else Inception)")
    parser.add_argument("--extractor-weights", default=None,
                        help="weights file for the extractor (else $RWBENCH_INCEPTION_WEIGHTS / $RWBENCH_DIGITS_CLASSIFIER / hub cache)")
    parser.add_argument("--no-download", action="store_true", help="never try to download Inception weights")
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS (no backbone weights needed)")
    parser.add_argument("--lpips-net", default=METRICS["lpips_net"], choices=node("metrics.lpips_net")["enum"], help="LPIPS backbone")
    parser.add_argument("--no-prc", action="store_true", help="skip precision/recall")
    parser.add_argument("--prc-neighborhood", type=int, default=3, help="k of the k-NN balls in precision/recall")
    parser.add_argument("--device", default=defaults()["device"], help="cpu or cuda[:i]")
    parser.add_argument("--batch-size", type=int, default=64, help="feature extraction batch size")
    parser.add_argument("--max-diverged", type=float, default=0.5,
                        help="diverged fraction above which image metrics are recorded as NaN")
    parser.add_argument("--allow-partial", action="store_true", help="evaluate even if some shards are missing")
    parser.add_argument("--n-boot", type=int, default=METRICS["n_boot"],
                        help="bootstrap resamples for 95%% intervals (set metrics use at most 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")


def run(args: argparse.Namespace) -> int:
    """Evaluate one run and print where metrics.csv went."""
    from rwbench.metrics.evaluate import evaluate_run

    from rwbench.devices import pin_device

    args.device = pin_device(args.device)
    frame = evaluate_run(args.run, args.reference_cache, args.extractor, args.extractor_weights, not args.no_lpips,
                         args.lpips_net, not args.no_prc, args.prc_neighborhood, args.device, args.batch_size,
                         args.max_diverged, not args.no_download, args.allow_partial, args.n_boot, args.seed)
    for row in frame.itertuples():
        value = "nan" if math.isnan(row.value) else f"{row.value:.6g}"
        ci = "" if math.isnan(row.ci_lo) else f"  [{row.ci_lo:.4g}, {row.ci_hi:.4g}]"
        print(f"{row.metric:28s} {value:>12s}{ci}  n={row.n} n_ref={row.n_ref}")
    print(Path(args.run) / "metrics.csv")
    return 0
