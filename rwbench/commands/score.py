"""`rwbench score` (CLI; the work is done by rwbench.tools.oneshot.score_images, i.e. the metrics of `rwbench evaluate`)."""

from __future__ import annotations

import argparse

from rwbench.plan.config import node, defaults

METRICS = defaults("metrics")
EXTRACTORS = node("metrics.extractor")["enum"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench score`."""
    parser.add_argument("folder", help="folder of PNG/JPEG images of one size (e.g. from `rwbench export`)")
    parser.add_argument("--reference", required=True,
                        help="dataset:NAME/SPLIT/RES (e.g. dataset:digits/test/16), a uint8 tensor file, or a folder")
    parser.add_argument("--extractor", default=None,
                        help=f"feature extractor ({', '.join(EXTRACTORS)} or a registered one; default: digits-cnn for "
                             f"the digits dataset, else Inception)")
    parser.add_argument("--extractor-weights", default=None, help="weights file of the extractor")
    parser.add_argument("--reference-cache", default="results/reference", help="directory of reference statistics")
    parser.add_argument("--device", default=defaults()["device"], help="cpu or cuda[:i]")
    parser.add_argument("--batch-size", type=int, default=64, help="feature extraction batch size")
    parser.add_argument("--out", default=None, help="also write the metric rows as CSV here")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object instead: {"metrics": {metric: {value, ci_lo, ci_hi, se, n, '
                             'n_ref}}, "extractor": ..., "reference": ...}')


def run(args: argparse.Namespace) -> int:
    """Score the folder and print one line per metric (or, with --json, one JSON object)."""
    import json

    from rwbench.tools.oneshot import parse_reference, read_images, score_images, score_summary
    from rwbench.io import atomic_write

    images = read_images(args.folder)
    reference = parse_reference(args.reference, args.reference_cache)
    frame = score_images(images, reference, args.reference_cache, extractor=args.extractor,
                         extractor_weights=args.extractor_weights,
                         device=args.device, batch_size=args.batch_size)
    summary = score_summary(frame)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for metric, entry in summary["metrics"].items():
            value = "nan" if entry["value"] is None else f"{entry['value']:.6g}"
            ci = "" if entry["ci_lo"] is None else f"  95 % [{entry['ci_lo']:.4g}, {entry['ci_hi']:.4g}]"
            print(f"{metric:20s} {value:>12s}{ci}  n={entry['n']} n_ref={entry['n_ref']}")
        # which weights and which reference the numbers are measured with
        print(f"extractor: {summary['extractor']}; reference: {summary['reference']}")
    if args.out:
        with atomic_write(args.out, "w") as handle:
            frame.to_csv(handle, index=False)
    return 0
