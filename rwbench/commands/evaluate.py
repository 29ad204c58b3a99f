"""`rwbench evaluate` (CLI; the work is done by rwbench.metrics.evaluate)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rwbench.schema import node, defaults

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
    parser.add_argument("--kid-subset-size", type=int, default=None,
                        help="KID subset size (default: min(1000, #samples, #reference))")
    parser.add_argument("--kid-subsets", type=int, default=100, help="number of KID subsets")
    parser.add_argument("--no-prc", action="store_true", help="skip precision/recall")
    parser.add_argument("--prc-neighborhood", type=int, default=3, help="k of the k-NN balls in precision/recall")
    parser.add_argument("--device", default=defaults()["device"], help="cpu or cuda[:i]")
    parser.add_argument("--batch-size", type=int, default=64, help="feature extraction batch size")
    parser.add_argument("--max-diverged", type=float, default=0.5,
                        help="diverged fraction above which image metrics are recorded as NaN")
    parser.add_argument("--allow-partial", action="store_true", help="evaluate even if some shards are missing")
    parser.add_argument("--n-boot", type=int, default=METRICS["n_boot"], help="bootstrap resamples for 95%% intervals")
    parser.add_argument("--seed", type=int, default=0, help="seed of KID subsets, bootstrap and reference subsets")


def run(args: argparse.Namespace) -> int:
    """Evaluate one run and print where metrics.csv went."""
    from rwbench.metrics.evaluate import evaluate_run

    from rwbench.devices import pin_device

    args.device = pin_device(args.device)
    frame = evaluate_run(args.run, args.reference_cache, args.extractor, args.extractor_weights, not args.no_lpips,
                         args.lpips_net, args.kid_subset_size, args.kid_subsets, not args.no_prc,
                         args.prc_neighborhood, args.device, args.batch_size, args.max_diverged,
                         not args.no_download, args.allow_partial, args.n_boot, args.seed)
    shown = frame[~frame["metric"].str.endswith(("_se", "_ci95_lo", "_ci95_hi"))]
    for row in shown.itertuples():
        value = "nan" if math.isnan(row.value) else f"{row.value:.6g}"
        print(f"{row.metric:28s} {value:>12s}  n={row.n}")
    print(Path(args.run) / "metrics.csv")
    return 0
