"""Reference statistics (FID mu/sigma and features) cached once per (dataset, split, resolution, extractor, conversion).

Cache file `<cache_dir>/<dataset>-<split>-r<res>[-folder<identity>]__<extractor>__<conversion tag>.pt` (torch.save,
weights_only-loadable; image-folder datasets such as FFHQ add the folder's identity: path, file names, sizes, times)
holds mu, sigma (float64), features (float32 [N, D] in the extractor's normalised feature space, for KID and
precision/recall), kid_yy (KID's reference-reference term), count, conversion, resize_filter, extractor, layer,
weights_sha256 (for digits-cnn this hash covers the feature normalisation stored with the weights, so a new
normalisation makes the cache stale) and the reference spec; a `.json` sidecar repeats the metadata for people.
`load_reference(path)` reads a cache file (e.g. for bootstrap replicates of rwbench.metrics.fidelity.set_metrics).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path

import torch

from rwbench.io import atomic_path, load_safetensors, load_tensors, write_json
from rwbench.metrics import extractors as ex
from rwbench.run.rundir import check_reference, reference_key, reference_label

CACHE_VERSION = 2  # 2: features in the extractor's normalised space (digits-cnn), KID's reference term kid_yy
DEFAULT_CACHE_DIR = "results/reference"
REMEDY = "delete it and rerun (`rwbench reference` or the stage that built it)"


def load_reference_images(reference: dict) -> torch.Tensor:
    """Reference uint8 images [N, C, H, W]: rwbench.data.load_dataset(...).images or a torch.save'd tensor file."""
    reference = check_reference(reference)  # reference identity: rwbench.run.rundir
    if reference["kind"] == "dataset":
        from rwbench.data import load_dataset

        images = load_dataset(reference["dataset"], reference["split"], int(reference["resolution"]), seed=0).images
    else:
        path = Path(reference["path"])
        if not path.is_file():
            raise FileNotFoundError(f"{path}: reference file not found (spec reference.path)")
        if path.suffix == ".safetensors":  # e.g. `rwbench prepare`'s exact oracle samples, key "images"
            images = load_safetensors(path, "reference images", "replace it with a uint8 [N, C, H, W] tensor file")
            images = images.get("images")
        else:
            images = load_tensors(path, "reference images", "replace it with a uint8 [N, C, H, W] tensor file")
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"reference {reference_key(reference)}: expected a uint8 tensor [N, C, H, W]")
    return images


def conversion_for(extractor: str, channels: int) -> str:
    """Conversion string the extractor applies to uint8 images with `channels` channels."""
    return ex.prepare_uint8(torch.zeros(1, channels, 1, 1, dtype=torch.uint8), extractor)[1]


def folder_tag(reference: dict) -> str:
    """'' for packaged datasets; for image-folder datasets (ffhq, read from $RWBENCH_FFHQ_DIR) '-folder<16 hex>', the
    folder's identity (rwbench.plan.inputs.folder_identity: its path and every image's name, size and mtime)."""
    from rwbench.plan.inputs import FFHQ_ENV, FOLDER_DATASETS, folder_identity

    if reference.get("kind") != "dataset" or reference.get("dataset") not in FOLDER_DATASETS:
        return ""
    root = os.environ.get(FFHQ_ENV)
    return f"-folder{folder_identity(root)}" if root else ""


def reference_cache_path(reference: dict, extractor: str, channels: int,
                         cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR) -> Path:
    """Cache file for (reference, its image folder's identity, extractor, conversion of `channels`-channel images)."""
    conversion = conversion_for(extractor, channels)
    tag = hashlib.sha256(conversion.encode()).hexdigest()[:8]
    kind = "gray2rgb" if "gray->rgb" in conversion else f"{channels}ch"
    return Path(cache_dir) / f"{reference_key(reference)}{folder_tag(reference)}__{extractor}__{kind}-{tag}.pt"


def _stale(cached: dict, info: ex.ExtractorInfo, conversion: str) -> str | None:
    checks = {"cache_version": CACHE_VERSION, "extractor": info.name, "layer": info.layer,
              "weights_sha256": info.weights_sha256, "conversion": conversion}
    for key, want in checks.items():
        if cached.get(key) != want:
            return f"{key} {cached.get(key)!r} != {want!r}"
    return None


def reference_statistics(reference: dict, info: ex.ExtractorInfo, cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
                         channels: int | None = None, device: str = "cpu", batch_size: int = 64,
                         extractor=None) -> dict:
    """Load the cached reference statistics, or extract features of the reference set once and cache them."""
    from rwbench.metrics.fidelity import feature_statistics, reference_terms

    images = None
    if channels is None:
        images = load_reference_images(reference)
        channels = int(images.shape[1])
    path = reference_cache_path(reference, info.name, channels, cache_dir)
    conversion = conversion_for(info.name, channels)
    if path.is_file():
        cached = load_tensors(path, "reference cache", REMEDY)
        reason = _stale(cached, info, conversion)
        if reason is None:
            cached["path"] = str(path)
            return cached
        ex.warn(f"{path}: stale reference cache ({reason}); recomputing")
    elif folder_tag(reference):
        others = [p.name for p in path.parent.glob(f"{reference_key(reference)}-folder*{path.name.split('__', 1)[1]}")]
        from rwbench.plan.inputs import FFHQ_ENV

        ex.warn(f"{path.name}: no statistics cached for this image folder ({os.environ.get(FFHQ_ENV)}: its "
                f"path, file names, sizes or times differ from {', '.join(others) if others else 'any cached one'}); "
                f"computing them")
    if images is None:
        images = load_reference_images(reference)
    if images.shape[1] != channels:
        raise ValueError(f"reference {reference_key(reference)}: has {images.shape[1]} channels, samples have {channels}")
    prepared, conversion = ex.prepare_uint8(images, info.name)
    if extractor is None:
        extractor = ex.build_extractor(info, [info.layer], device)
    features = ex.extract_features(extractor, prepared, batch_size, device)[info.layer].float().cpu()
    stats = feature_statistics(features)
    entry = {
        "cache_version": CACHE_VERSION,
        "mu": torch.from_numpy(stats["mu"]), "sigma": torch.from_numpy(stats["sigma"]), "features": features,
        "kid_yy": reference_terms({"mu": stats["mu"], "sigma": stats["sigma"], "features": features})["kid_yy"],
        "count": int(len(features)), "conversion": conversion, "resize_filter": info.resize_filter,
        "extractor": info.name, "layer": info.layer, "weights_sha256": info.weights_sha256,
        "reference": json.dumps(reference, sort_keys=True), "reference_label": reference_label(reference),
        "image_shape": list(images.shape[1:]), "torch_fidelity": _tf_version(),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_path(path) as tmp:
        torch.save(entry, tmp)
    write_json(path.with_suffix(".json"), {k: v for k, v in entry.items() if not isinstance(v, torch.Tensor)})
    entry["path"] = str(path)
    return entry


def load_reference(path: str | os.PathLike) -> dict:
    """Read one reference cache file (mu, sigma, features, kid_yy, count, conversion, extractor, ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no reference statistics; build them with `rwbench reference` (or evaluate)")
    entry = load_tensors(path, "reference cache", REMEDY)
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: not a reference cache (a {type(entry).__name__}); {REMEDY}")
    if entry.get("cache_version") != CACHE_VERSION:
        raise ValueError(f"{path}: reference cache version {entry.get('cache_version')!r} != {CACHE_VERSION}; "
                         f"delete it and re-run `rwbench reference`")
    entry["path"] = str(path)
    return entry


def _tf_version() -> str:
    import torch_fidelity

    return str(getattr(torch_fidelity, "__version__", "unknown"))
