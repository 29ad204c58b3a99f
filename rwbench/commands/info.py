"""`rwbench info`: environment, devices, and which checkpoints, datasets and metric weights are present or missing."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

FFHQ_SOURCE = "https://github.com/NVlabs/ffhq-dataset (images1024x1024 or a 256x256 resize; any PNG/JPG folder)"
INCEPTION_SOURCE = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                    "weights-inception-2015-12-05-6726825d.pth")
LPIPS_SOURCES = {"alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                 "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth"}


def collect(results_dir: str = "results") -> list[dict]:
    """Rows (group, item, status, path, how to get it) describing this installation."""
    import platform

    import torch

    from rwbench.plan.inputs import FFHQ_ENV, image_folder_status
    from rwbench.metrics.extractors import INCEPTION_WEIGHTS_FILE, hub_checkpoint
    from rwbench.metrics.lpips_metric import BACKBONE_FILES
    from rwbench.models.pretrained import CHECKPOINT_ENV, SOURCES, default_checkpoint
    from rwbench.run.provenance import git_revision, package_versions
    from rwbench.plan.samplers import TRAINED_FAMILIES

    rows = [{"group": "environment", "item": "python", "status": platform.python_version(), "path": "", "get": ""},
            {"group": "environment", "item": "git", "status": git_revision(), "path": "", "get": ""}]
    for name, version in package_versions().items():
        rows.append({"group": "environment", "item": name, "status": version or "missing", "path": "",
                     "get": "" if version else f"pip install {name}"})
    rows.append({"group": "device", "item": "cpu", "status": f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
                 "path": "", "get": ""})
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            rows.append({"group": "device", "item": f"cuda:{i}", "status": f"{props.name}, {props.total_memory / 2**30:.0f} GiB",
                         "path": "", "get": ""})
    else:
        rows.append({"group": "device", "item": "cuda", "status": "not available", "path": "",
                     "get": "the FFHQ experiments (config/ffhq.yaml) need a GPU"})
    for name, source in SOURCES.items():
        path = default_checkpoint(name)
        rows.append({"group": "checkpoint", "item": name, "status": "present" if path.is_file() else "missing",
                     "path": str(path), "get": f"download from {source}; folder from ${CHECKPOINT_ENV}"})
    ffhq = os.environ.get(FFHQ_ENV)
    rows.append({"group": "dataset", "item": "ffhq", "status": image_folder_status(ffhq),   # counts the images
                 "path": ffhq or f"(set ${FFHQ_ENV})", "get": FFHQ_SOURCE})
    rows.append({"group": "dataset", "item": "digits, faces", "status": "present (scikit-learn, scikit-image)",
                 "path": "", "get": ""})
    inception = hub_checkpoint(INCEPTION_WEIGHTS_FILE)
    rows.append({"group": "metric weights", "item": "inception-v3-compat", "status": "present" if inception.is_file() else "missing",
                 "path": str(inception), "get": f"{INCEPTION_SOURCE} (or --extractor-weights / $RWBENCH_INCEPTION_WEIGHTS)"})
    for net, filename in BACKBONE_FILES.items():
        path = hub_checkpoint(filename)
        rows.append({"group": "metric weights", "item": f"lpips-{net}", "status": "present" if path.is_file() else "missing",
                     "path": str(path), "get": LPIPS_SOURCES.get(net, "torchvision model zoo")})
    for kind in ("oracle",) + TRAINED_FAMILIES + ("classifier",):
        folder = Path(results_dir) / "embedded" / kind
        marker = folder / ("prepare.json" if kind == "oracle" else "model.safetensors")
        status = ("present" if marker.is_file() else "missing") if kind == "oracle" else embedded_status(folder, kind)
        rows.append({"group": "embedded", "item": kind, "status": status, "path": str(marker),
                     "get": "built by `snakemake` (rwbench prepare / rwbench train)" if status == "missing" else
                     f"finish it: rwbench train --config <embedded config> --model {kind} --out {folder} --resume" if status != "present" else ""})
    return rows


def embedded_status(folder, kind: str) -> str:
    """present (training finished: model.safetensors), partial (step n of N: only an intermediate checkpoint), missing."""
    import json

    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        return "present"
    checkpoint = folder / "checkpoint.json"
    if checkpoint.is_file():
        meta = json.loads(checkpoint.read_text())
        return f"partial (step {meta.get('step')} of {(meta.get('train') or {}).get('steps')}, not usable yet)"
    return "missing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI options of `rwbench info`."""
    parser.add_argument("--results-dir", default="results", help="where the DAG writes embedded models")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _needs_action(status: str) -> bool:
    return status.split(" ", 1)[0] in ("missing", "not", "partial", "empty")


def run(args: argparse.Namespace) -> int:
    """Print the table (missing items say where to get them)."""
    rows = collect(args.results_dir)
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    for group in dict.fromkeys(r["group"] for r in rows):
        print(f"[{group}]")
        for r in (r for r in rows if r["group"] == group):
            extra = f"  {r['path']}" if r["path"] else ""
            hint = f"\n      -> {r['get']}" if r["get"] and _needs_action(r["status"]) else ""
            print(f"  {r['item']:22s} {r['status']}{extra}{hint}")
    return 0
