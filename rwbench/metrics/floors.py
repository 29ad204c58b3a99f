"""Floors (`rwbench floors`, CLI in rwbench.commands.floors): what a perfect sampler scores at the same n, for every (reference, n) an unconditional cell uses.

For each reference set and sample size n of the given runs, `draws` (>= 10) independent sets of n items are scored
exactly like a cell's samples (same extractor, same uint8 conversion, the one FID/KID path and the exact metrics):
- dataset references: real images from the split disjoint from the reference statistics (reference train -> pool
  test, reference test -> pool train; each draw takes n distinct pool images at random). A subset of the reference
  scored against statistics that contain it would understate the floor, so it is never used.
- oracle references (spec family `oracle`, file reference of exact draws): fresh exact mixture draws (seeds of
  their own, independent of the reference file), converted with to_uint8 like a cell's samples; besides FID/KID
  they give the exact-vs-exact bands of every exact metric (rwbench.metrics.exact.EXACT_METRICS: energy_distance,
  occupancy_tv, logp_gap and the moment metrics variance_ratio, mean_offset, mean_offset_sq, occupancy_chi2,
  component_variance_ratio, component_ratio_maxdev) at the run's n.
Output: results/floors.csv, long format (rwbench.run.rundir.FLOOR_COLUMNS): reference, n, metric, mean, sd, draws, ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rwbench.run import rundir
from rwbench.metrics import extractors as ex

OTHER_SPLIT = {"train": "test", "test": "train"}
MIN_DRAWS = 10


def floor_groups(specs: list[dict]) -> dict[tuple[str, int], dict]:
    """{(reference label, n): a spec of that group} over the unconditional runs (n = n_images)."""
    groups = {}
    for spec in specs:
        if spec.get("task") != "uncond" or not isinstance(spec.get("reference"), dict):
            continue
        key = (rundir.reference_label(spec["reference"]), int(spec["n_images"]))
        groups.setdefault(key, spec)
    return groups


def floor_source(spec: dict):
    """(source label, pool size, draw(n, generator) -> (uint8 [n, C, H, W], float [n, ...] or None), oracle or None)."""
    from rwbench.data import load_dataset, to_uint8

    reference = spec["reference"]
    if reference["kind"] == "dataset":
        split = OTHER_SPLIT.get(reference["split"])
        if split is None:
            raise ValueError(f"reference {rundir.reference_label(reference)}: split {reference['split']!r} leaves no "
                             f"disjoint real images for a floor; use split train or test")
        pool = load_dataset(reference["dataset"], split, int(reference["resolution"]), seed=0).images

        def draw(n, generator):
            if n > len(pool):
                raise ValueError(f"floor: n = {n} > {len(pool)} images in {reference['dataset']}/{split}")
            return pool[torch.randperm(len(pool), generator=generator)[:n]], None

        return f"real:{reference['dataset']}/{split}", len(pool), draw, None
    if spec.get("family") == "oracle":
        from rwbench.metrics.exact import oracle_for

        oracle = oracle_for(spec)

        def draw(n, generator):
            x = oracle.sample(n, generator=generator)
            return to_uint8(x, (0.0, 1.0)), x

        return f"exact:{spec['dataset']}-oracle", 0, draw, oracle
    raise ValueError(f"reference {rundir.reference_label(reference)}: no floor source (a file reference of a "
                     f"non-oracle model); use a dataset reference")


def compute_floors(specs: list[dict], reference_cache="results/reference", extractor: str | None = None,
                   extractor_weights=None, draws: int = 20, seed: int = 0, device: str = "cpu",
                   batch_size: int = 256, allow_download: bool = False) -> list[dict]:
    """floors.csv rows for every (reference, n) of the unconditional runs in `specs`."""
    from rwbench.metrics import exact as exact_metrics
    from rwbench.metrics.evaluate import default_extractor
    from rwbench.metrics.fidelity import SetMetrics
    from rwbench.metrics.reference import load_reference_images, reference_statistics
    from rwbench.core.rng import image_seed

    if draws < MIN_DRAWS:
        raise ValueError(f"--draws {draws}: a floor needs at least {MIN_DRAWS} draws")
    rows, built = [], {}
    for (label, n), spec in sorted(floor_groups(specs).items()):
        name = extractor or default_extractor(spec)
        if name not in built:
            info = ex.resolve_extractor(name, extractor_weights, allow_download)
            built[name] = (info, ex.build_extractor(info, [info.layer], device))
        info, net = built[name]
        reference = spec["reference"]
        ref = reference_statistics(reference, info, reference_cache, int(spec.get("channels", 1)), device,
                                   batch_size, extractor=net)
        source, pool, draw, oracle = floor_source(spec)
        stream = rundir.reference_key(reference)
        consts = ref_images = None
        if oracle is not None:
            ref_images = load_reference_images(reference)
            cache = Path(reference_cache) / (f"exact-{exact_metrics.oracle_digest(oracle)[:12]}-"
                                             f"{rundir.reference_key(reference)}.json")
            consts = exact_metrics.reference_constants(oracle, ref_images, cache)
        values: dict[str, list[float]] = {}
        n_refs = {"fid": int(ref["count"]), "kid_mean": int(ref["count"])}
        for r in range(draws):
            # draw r: its own generator (image_seed of task "floors"), so draws are independent and reproducible; keyed
            # by the reference's content identity (reference_key: name and sha256), not its path, so the same floors
            # come out wherever the files live
            g = torch.Generator().manual_seed(image_seed(seed, f"floors:{stream}:{n}", r))
            images, floats = draw(n, g)
            prepared, _ = ex.prepare_uint8(images, info.name)
            feats = ex.extract_features(net, prepared, batch_size, device)[info.layer].double().cpu()
            set_values = SetMetrics(feats, ref)()
            values.setdefault("fid", []).append(set_values["fid"])
            values.setdefault("kid_mean", []).append(set_values["kid"])
            if oracle is not None:
                em = exact_metrics.ExactMetrics(oracle, floats, images, ref_images, consts)
                for metric, value in em().items():
                    values.setdefault(metric, []).append(value)
                n_refs.update({m: 0 for m in exact_metrics.EXACT_METRICS})     # against the exact mixture itself
                n_refs.update(energy_distance=em.n_ref, logp_gap=int(consts["logp_draws"]))
        for metric, vals in values.items():
            arr = np.asarray(vals, dtype=np.float64)
            rows.append({"reference": label, "n": n, "metric": metric, "mean": float(arr.mean()),
                         "sd": float(arr.std(ddof=1)), "draws": len(arr), "n_ref": n_refs[metric], "source": source,
                         "pool": pool})
        print(f"floors {label} n={n} ({source}): " + ", ".join(
            f"{m}={np.mean(v):.4g}+-{np.std(v, ddof=1):.2g}" for m, v in values.items()), flush=True)
    return rows
