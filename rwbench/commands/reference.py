"""`rwbench reference` (CLI; the work is done by rwbench.metrics.reference)."""

from __future__ import annotations

import argparse

from rwbench.plan.config import node, defaults

METRICS = defaults("metrics")
EXTRACTORS = node("metrics.extractor")["enum"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rwbench reference` (build one reference cache file, e.g. from a DAG rule)."""
    parser.add_argument("--dataset", help="dataset name (digits, faces, ffhq)")
    parser.add_argument("--split", default="test", help="dataset split")
    parser.add_argument("--resolution", type=int, help="image side in pixels")
    parser.add_argument("--file", help="reference uint8 tensor file instead of a dataset")
    parser.add_argument("--channels", type=int, default=None, help="channels of the images (default: read them)")
    parser.add_argument("--extractor", default=METRICS["extractor"], help=f"feature extractor ({', '.join(EXTRACTORS)} or a registered one)")
    parser.add_argument("--extractor-weights", default=None, help="weights file of the extractor")
    parser.add_argument("--reference-cache", default="results/reference", help="cache directory")
    parser.add_argument("--device", default=defaults()["device"], help="cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=64, help="feature extraction batch size")
    parser.add_argument("--record", default=None, help="also write a JSON record (cache path, count, conversion) here")


def run(args: argparse.Namespace) -> int:
    """Build (or confirm) one reference cache file and print its path."""
    import torch

    from rwbench.io import write_json
    from rwbench.metrics import extractors as ex
    from rwbench.metrics.reference import reference_statistics

    if args.file:
        reference = {"kind": "file", "path": args.file}
    elif args.dataset and args.resolution:
        reference = {"kind": "dataset", "dataset": args.dataset, "split": args.split, "resolution": args.resolution}
    else:
        raise ValueError("reference: pass --dataset and --resolution, or --file")
    info = ex.resolve_extractor(args.extractor, args.extractor_weights)
    entry = reference_statistics(reference, info, args.reference_cache, args.channels, args.device, args.batch_size)
    print(entry["path"])
    if args.record:
        write_json(args.record, {k: v for k, v in entry.items() if not isinstance(v, torch.Tensor)})
    return 0

