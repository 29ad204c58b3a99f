"""`rwbench prepare`: save the embedded data splits, fit the digits and faces Gaussian-mixture oracles, draw their references."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from rwbench.data import load_dataset, to_model_range
from rwbench.io import save_safetensors, write_json
from rwbench.progress import progress as track
from rwbench.models.oracle import fit_gmm, oracle_file, oracle_samples_uint8, reference_file

ORACLE_DEFAULTS = {
    "digits": dict(n_components=10, reg_covar=1e-3, max_iter=200, seed=0, reference_samples=2000),
    "faces": dict(n_components=4, reg_covar=1e-3, max_iter=200, seed=0, reference_samples=500, resolution=16),
}


def _save_tensors(path: Path, tensors: dict) -> None:
    save_safetensors(path, tensors)


def prepare(embedded: dict, out, progress: bool = True) -> dict:
    """Write data splits (uint8), the two fitted oracles and their uint8 reference samples into `out`; returns metadata."""

    out = Path(out)
    ds = dict(dict(name="digits", resolution=16, test_fraction=0.2, split_seed=0), **(embedded.get("dataset") or {}))
    settings = {k: dict(v, **((embedded.get("oracle") or {}).get(k) or {})) for k, v in ORACLE_DEFAULTS.items()}
    meta = {"dataset": ds, "oracles": {}}
    t0 = time.perf_counter()
    tensors = {}
    for split in ("train", "test"):
        s = load_dataset("digits", split, ds["resolution"], seed=ds["split_seed"], test_fraction=ds["test_fraction"])
        tensors[f"{split}_images"], tensors[f"{split}_labels"] = s.images, s.labels
        meta["resize_filter"] = s.resize_filter
    _save_tensors(out / "digits-data.safetensors", tensors)
    for name in track(("digits", "faces"), "fit oracles", enabled=progress):
        cfg = settings[name]
        t1 = time.perf_counter()
        if name == "digits":
            images = load_dataset("digits", "train", ds["resolution"], seed=ds["split_seed"],
                                  test_fraction=ds["test_fraction"]).images
        else:
            images = load_dataset("faces", "all", cfg["resolution"]).images
        oracle, info = fit_gmm(to_model_range(images, "oracle", dtype=torch.float64), cfg["n_components"],
                               cfg["reg_covar"], cfg["seed"], max_iter=cfg["max_iter"], return_info=True)
        oracle.save(oracle_file(out, name))
        ref = oracle_samples_uint8(oracle, cfg["reference_samples"], seed=cfg["seed"])
        _save_tensors(reference_file(out, name), {"images": ref})
        info.update(settings=cfg, seconds=round(time.perf_counter() - t1, 2), data_range=[0.0, 1.0],
                    file=oracle_file(out, name).name, reference=reference_file(out, name).name,
                    reference_conversion="rwbench.data.to_uint8 on [0, 1] (clamp, round)")
        meta["oracles"][name] = info
    meta["seconds"] = round(time.perf_counter() - t0, 2)
    write_json(out / "prepare.json", meta)
    return meta
