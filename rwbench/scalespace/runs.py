"""`rwbench scalespace`: D1-D6 along one run's recorded trajectory plus the D7 reference curves, or (--figure) the
scale-space figure and monotonicity table over all runs.

Per run writes <run>/scalespace.csv (tidy: run_id, curve, step, sigma, quantity, value; curve = sampler | forward |
heat | osmosis; rows whose value is not finite, e.g. cond_entropy at sigma = 0, are left out) and
<run>/scalespace-monotonicity.csv (run_id, curve, quantity, expected, score). With --fid-points N the sampler and exact
forward curves also get `fid` (extractor features against the reference statistics) at N evenly spread points.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import torch

from rwbench.core.divergence import diverged
from rwbench.io import atomic_write, read_json
from rwbench.run.rundir import load_trajectories
from rwbench.scalespace import baselines as d7
from rwbench.scalespace.diagnostics import (DENSE_LIMIT, EXPECTED, FrechetReference, monotonicity_scores,
                                            trajectory_diagnostics)

F64 = torch.float64
CSV_COLUMNS = ["run_id", "curve", "step", "sigma", "quantity", "value"]
MONO_COLUMNS = ["run_id", "curve", "quantity", "expected", "score"]


def load_reference(reference: dict, data_range, shape, max_images: int) -> torch.Tensor:
    """Reference uint8 images (rwbench.metrics.reference.load_reference_images) on the run's data scale, float64."""
    from rwbench.data import from_uint8
    from rwbench.metrics.reference import load_reference_images

    images = load_reference_images(reference)
    if tuple(images.shape[1:]) != tuple(shape):
        raise ValueError(f"reference {reference}: images {tuple(images.shape[1:])} differ from the trajectory's "
                         f"{tuple(shape)}")
    return from_uint8(images[:max_images], tuple(data_range), F64)


def scalespace_run(run_dir: str | Path, reference: dict | None = None, max_reference: int = 2000, seed: int = 0,
                   baselines: bool = True, osmosis_steps: int = 50, osmosis_relax: float = 5.0,
                   dense_limit: int = DENSE_LIMIT, frechet_resolution: int = 32, fid_points: int = 0,
                   fid_options: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Compute D1-D5 of the run's trajectory and of its D7 curves, write scalespace.csv and scalespace-monotonicity.csv.

    fid_points > 0 adds feature FID at that many points of the sampler and exact-forward curves; fid_options are the
    keyword arguments of rwbench.scalespace.fid.FeatureFID.load (extractor, weights, cache_dir, device, batch_size)."""
    from rwbench.data import family_range

    run_dir = Path(run_dir)
    spec = read_json(run_dir / "spec.json")
    run_id = spec.get("run_id", run_dir.name)
    data_range = tuple(spec.get("data_range") or family_range(spec["family"]))
    traj = load_trajectories(run_dir)
    x = traj["x"].to(F64)
    steps, sigmas = traj["step"], traj["sigma"]
    # drop images that diverged at any recorded point (non-finite or far outside the data range: rwbench.core.divergence)
    bad = torch.zeros(x.shape[1], dtype=torch.bool)
    for k in range(x.shape[0]):
        bad |= diverged(x[k], data_range, float(sigmas[k]) if torch.isfinite(sigmas[k]) else 0.0)
    x = x[:, ~bad]
    rows: list[dict] = []
    mono: list[dict] = []

    def add_curve(curve: str, diag: dict[str, torch.Tensor], n_images: int) -> None:
        for k in range(len(steps)):
            base = {"run_id": run_id, "curve": curve, "step": int(steps[k]), "sigma": float(sigmas[k])}
            rows.append({**base, "quantity": "n_images", "value": float(n_images)})
            for q, values in diag.items():
                if torch.isfinite(values[k]):
                    rows.append({**base, "quantity": q, "value": float(values[k])})
        for q, score in monotonicity_scores(diag).items():
            mono.append({"run_id": run_id, "curve": curve, "quantity": q, "expected": EXPECTED[q], "score": score})

    if x.shape[1] < 2:
        add_curve("sampler", {}, int(x.shape[1]))
    else:
        ref = frechet = None
        if reference is not None:
            ref = load_reference(reference, data_range, x.shape[2:], max_reference)
            frechet = FrechetReference.for_images(ref, dense_limit, frechet_resolution)   # shared by every curve

        fid = None
        if fid_points > 0:
            if reference is None:
                raise ValueError("--fid-points: FID needs a reference set; the run's spec.json has none (pass --dataset)")
            from rwbench.scalespace.fid import FeatureFID

            fid = FeatureFID.load(reference, data_range, int(x.shape[2]), **(fid_options or {}))

        def diagnose(traj: torch.Tensor, with_fid: bool = False) -> dict[str, torch.Tensor]:
            diag = trajectory_diagnostics(traj, sigmas, data_range, frechet, dense_limit, frechet_resolution)
            if with_fid and fid is not None:
                from rwbench.scalespace.fid import trajectory_fid

                diag["fid"] = trajectory_fid(traj, fid, fid_points)
            return diag

        add_curve("sampler", diagnose(x, with_fid=True), int(x.shape[1]))
        if baselines and ref is not None:
            sub = ref[: x.shape[1]]
            add_curve("forward", diagnose(d7.forward_trajectory(sub, sigmas, seed), with_fid=True), len(sub))
            add_curve("heat", diagnose(d7.heat_trajectory(sub, sigmas)), len(sub))
        if baselines:
            path, _ = d7.osmosis_trajectory(x[0], x[-1], steps, data_range, osmosis_steps, osmosis_relax)
            add_curve("osmosis", diagnose(path), int(x.shape[1]))
    _write_csv(run_dir / "scalespace.csv", CSV_COLUMNS, rows)
    _write_csv(run_dir / "scalespace-monotonicity.csv", MONO_COLUMNS, mono)
    return rows, mono


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    with atomic_write(path, "w") as handle:
        handle.write(buf.getvalue())
