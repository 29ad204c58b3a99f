"""The run directory (docs/run-layout.md): one home for its file names and for reading and writing its files.

results/runs/<run_id>/ holds spec.json, shards/shard-NNNNN.pt, trajectories/shard-NNNNN.pt, provenance-NNNNN.json,
metrics.csv (long format, METRIC_COLUMNS), metrics-per-image.csv, metrics-per-target.csv (oracle inverse runs) and
features.safetensors (per-image feature and exact metric inputs written by `rwbench evaluate`). results/floors.csv
(FLOOR_COLUMNS) holds the floors of every (reference, n). Reference identity (reference_key, reference_label) lives here too.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from rwbench.errors import UserError
from rwbench.io import atomic_path, atomic_write, file_sha256, read_json

SPEC = "spec.json"
SHARDS = "shards"
TRAJECTORIES = "trajectories"
METRICS = "metrics.csv"
PER_IMAGE = "metrics-per-image.csv"
PER_TARGET = "metrics-per-target.csv"
CURVES = "coverage-curves.csv"
FEATURES = "features.safetensors"
FLOORS = "floors.csv"

# metrics.csv: one row per metric. value = the estimate; unit = what it is measured in; se = its standard error;
# [ci_lo, ci_hi] = its 95 % interval; n = generated samples it used; n_ref = reference items it used (0: none).
METRIC_COLUMNS = ["run_id", "metric", "value", "unit", "se", "ci_lo", "ci_hi", "n", "n_ref", "reference", "extractor",
                  "conversion"]
TEXT_COLUMNS = ("unit", "reference", "extractor", "conversion")
# the unit of each metric (the `unit` column) is the metric registry's (rwbench.metrics.registry.csv_unit)

# floors.csv: the metric of `draws` independent draws of n items from the floor source against the reference.
FLOOR_COLUMNS = ["reference", "n", "metric", "mean", "sd", "draws", "n_ref", "source", "pool"]
SHARD_KEYS = ("index", "sample_uint8")
TRAJECTORY_KEYS = ("index", "step", "sigma", "x")
F64 = torch.float64


# ---------------------------------------------------------------- spec


def read_spec(run_dir: str | Path) -> dict:
    """<run_dir>/spec.json (FileNotFoundError naming the file when absent)."""
    return read_json(Path(run_dir) / SPEC)


# ---------------------------------------------------------------- shards


def shard_path(run_dir: str | Path, shard: int) -> Path:
    """<run_dir>/shards/shard-<shard:05d>.pt."""
    return Path(run_dir) / SHARDS / f"shard-{int(shard):05d}.pt"


def trajectory_path(run_dir: str | Path, shard: int) -> Path:
    """<run_dir>/trajectories/shard-<shard:05d>.pt."""
    return Path(run_dir) / TRAJECTORIES / f"shard-{int(shard):05d}.pt"


def provenance_path(run_dir: str | Path, shard: int) -> Path:
    """<run_dir>/provenance-<shard:05d>.json."""
    return Path(run_dir) / f"provenance-{int(shard):05d}.json"


def save_torch(obj, path: str | Path) -> None:
    """torch.save through a temporary file and an atomic rename (shards, trajectory files)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def shard_files(run_dir: str | Path) -> list[Path]:
    """A run's shard files in order."""
    return sorted((Path(run_dir) / SHARDS).glob("shard-*.pt"))


def identity(spec: dict) -> dict[str, str]:
    """What a shard and its provenance record of the run that wrote them: its run id and the digest of its spec.json
    (rwbench.plan.grid.spec_digest, the DAG's own trigger), so that a copied-in or stale shard is refused on read."""
    from rwbench.plan.grid import spec_digest

    return {"run_id": str(spec["run_id"]), "spec_digest": spec_digest(spec)}


IDENTITY_KEYS = ("run_id", "spec_digest")   # strings a shard or trajectory file holds besides its tensors


def check_identity(path: str | Path, recorded: dict, spec: dict, source: str = "") -> None:
    """Refuse a file whose recorded run id or spec digest is not that of the run directory's spec.json (one line
    naming both). A key the file does not record (shards written before rwbench recorded them) is not compared."""
    want = identity(spec)
    wrong = [k for k in IDENTITY_KEYS if recorded.get(k) is not None and str(recorded[k]) != want[k]]
    if wrong:
        got = f"run {recorded.get('run_id', '?')} (spec {recorded.get('spec_digest') or '?'})"
        raise UserError(f"{path}: {source or 'written'} for {got}, but its run directory {Path(path).parents[1]} "
                        f"holds run {want['run_id']} (spec {want['spec_digest']}): copied from another run or sampled "
                        f"before the spec changed; delete it and rebuild it: snakemake --cores 1 {path}")


def _shard_number(path: Path) -> int | None:
    match = re.fullmatch(r"shard-(\d+)\.pt", path.name)
    return int(match.group(1)) if match else None


def load_shard(path: str | Path, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """One shard dict (torch.load with weights_only=True: a shard never executes code; a damaged file says so), its
    provenance checked: the run id and spec digest the shard and its provenance-<i>.json record must be those of the
    run directory's spec.json (`spec`, else <run>/spec.json when present)."""
    from rwbench.io import load_tensors

    path = Path(path)
    data = load_tensors(path, "sample shard", f"delete it and rebuild it: snakemake --cores 1 {path}")
    recorded = {k: data.pop(k) for k in IDENTITY_KEYS if isinstance(data, dict) and k in data}
    run_dir = path.parent.parent
    if spec is None and (run_dir / SPEC).is_file():
        spec = read_spec(run_dir)
    if spec is not None:
        check_identity(path, recorded, spec)
        number = _shard_number(path)
        prov = provenance_path(run_dir, number) if number is not None else None
        if prov is not None and prov.is_file():
            check_identity(path, {k: v for k, v in read_json(prov).items() if k in IDENTITY_KEYS}, spec,
                           f"its provenance {prov.name} says it was written")
    return data


def load_shards(run_dir: str | Path, allow_partial: bool = False) -> tuple[dict, dict[str, torch.Tensor]]:
    """spec.json and all shards' tensors concatenated and sorted by global index (diverged, target filled in)."""
    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    files = shard_files(run_dir)
    if not files:
        raise FileNotFoundError(f"{run_dir / SHARDS}: no shard-*.pt files; run `rwbench sample` for this run first")
    expected = spec.get("n_shards")
    if expected is not None and len(files) != int(expected) and not allow_partial:
        raise ValueError(f"{run_dir}: {len(files)} of {expected} shards present; finish sampling or pass --allow-partial")
    shards = [load_shard(f, spec) for f in files]
    keys = [k for k in shards[0] if all(k in s for s in shards)]
    data = {k: torch.cat([s[k] for s in shards]) for k in keys}
    for key in SHARD_KEYS:
        if key not in data:
            raise ValueError(f"{run_dir}: shards lack {key!r} (see docs/run-layout.md)")
    order = torch.argsort(data["index"])
    data = {k: v[order] for k, v in data.items()}
    if len(torch.unique(data["index"])) != len(data["index"]):
        raise ValueError(f"{run_dir}: duplicate image indices across shards")
    if "diverged" not in data:
        data["diverged"] = torch.zeros(len(data["index"]), dtype=torch.bool)
    # the shard's flag, or the one threshold (rwbench.core.divergence) on the [0, 1] samples: also flags shards written
    # before a blow-up without inf (|x| ~ 1e21) counted as diverged
    from rwbench.core.divergence import diverged

    data["diverged"] = data["diverged"].bool() | diverged((data["sample"] if "sample" in data else
                                                          data["sample_uint8"].float() / 255), (0.0, 1.0))
    if "target" not in data:
        data["target"] = data["index"].clone()
    return spec, data


def load_trajectories(run_dir: str | Path) -> dict[str, torch.Tensor]:
    """Concatenate <run>/trajectories/shard-*.pt along the image axis (sorted by index): index [N], step [P], sigma [P],
    x [P, N, C, H, W] (docs/run-layout.md, "trajectory file")."""
    files = sorted(Path(run_dir, TRAJECTORIES).glob("shard-*.pt"))
    if not files:
        raise FileNotFoundError(f"{Path(run_dir, TRAJECTORIES)}: no shard-*.pt trajectory files; sample the run with "
                                f"trajectory_points > 0 (template samplers only)")
    parts = []
    from rwbench.io import load_tensors

    spec = read_spec(run_dir) if (Path(run_dir) / SPEC).is_file() else None
    for path in files:
        data = load_tensors(path, "trajectory shard", f"delete it and rebuild it: snakemake --cores 1 {path}")
        recorded = {k: data.pop(k) for k in IDENTITY_KEYS if isinstance(data, dict) and k in data}
        if spec is not None:
            check_identity(path, recorded, spec)
        missing = [k for k in TRAJECTORY_KEYS if not isinstance(data, dict) or k not in data]
        if missing:
            raise ValueError(f"{path}: trajectory file lacks {missing} (docs/run-layout.md)")
        P, N = data["step"].numel(), data["index"].numel()
        if data["sigma"].numel() != P or data["x"].dim() != 5 or tuple(data["x"].shape[:2]) != (P, N):
            raise ValueError(f"{path}: need x [P={P}, N={N}, C, H, W] and sigma [P], got x {tuple(data['x'].shape)}, "
                             f"sigma {tuple(data['sigma'].shape)}")
        if parts and not (torch.equal(data["step"], parts[0]["step"]) and
                          torch.equal(data["sigma"].to(F64), parts[0]["sigma"].to(F64))):
            raise ValueError(f"{path}: recorded steps/sigmas differ from {files[0].name}'s")
        parts.append(data)
    index = torch.cat([p["index"].long() for p in parts])
    order = torch.argsort(index)
    x = torch.cat([p["x"] for p in parts], dim=1)[:, order]
    return {"index": index[order], "step": parts[0]["step"].long(), "sigma": parts[0]["sigma"].to(F64), "x": x}


# ---------------------------------------------------------------- per-image features and exact-metric inputs


def write_features(run_dir: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """<run_dir>/features.safetensors (atomic): "index" int64 [n] plus per-image tensors whose first axis is n; scalars
    go into `metadata` (strings; floats as repr, which round-trips)."""
    from rwbench.io import save_safetensors

    if "index" not in tensors:
        raise ValueError("features: need an 'index' tensor (global image indices)")
    n = len(tensors["index"])
    bad = [k for k, v in tensors.items() if v.dim() == 0 or v.shape[0] != n]
    if bad:
        raise ValueError(f"features: tensors {bad} do not have {n} rows like 'index'")
    path = Path(run_dir) / FEATURES
    return save_safetensors(path, {k: v.detach().cpu() for k, v in tensors.items()},
                            {k: str(v) for k, v in (metadata or {}).items()})


def read_features(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of <run_dir>/features.safetensors (see docs/run-layout.md for the keys)."""
    from safetensors import safe_open

    path = Path(run_dir) / FEATURES
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no per-image features; run `rwbench evaluate --run {run_dir}` first")
    with safe_open(str(path), "pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})


# ---------------------------------------------------------------- metrics tables


def write_metrics(path: str | Path, rows: list[dict]):
    """Write a metrics.csv (METRIC_COLUMNS, one row per metric) atomically; returns the DataFrame."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    with atomic_write(path, "w") as handle:
        frame.to_csv(handle, index=False)
    return frame


def read_metrics_csv(path: str | Path, required=("run_id", "metric", "value")):
    """Read a metrics.csv of one run or the aggregated table (csv or parquet); text columns never become NaN."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics table; run `rwbench evaluate` / `rwbench aggregate` first")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN", ""],
                            dtype={c: str for c in TEXT_COLUMNS})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a metrics table (missing column(s) {', '.join(missing)})")
    for col in TEXT_COLUMNS:
        if col in frame.columns:
            frame[col] = frame[col].fillna("")
    return frame


def write_per_target(run_dir: str | Path, rows: list[dict]) -> Path:
    """<run_dir>/metrics-per-target.csv (atomic): one row per target of an oracle inverse run, the sampler's calibration
    statistics <m> beside those of N independent exact draws <m>_exact_n (rwbench.metrics.evaluate)."""
    import pandas as pd

    path = Path(run_dir) / PER_TARGET
    with atomic_write(path, "w") as handle:
        pd.DataFrame(rows).to_csv(handle, index=False)
    return path


def read_per_target(run_dir: str | Path):
    """The per-target table of an oracle inverse run (write_per_target), or None when evaluate wrote none."""
    import pandas as pd

    path = Path(run_dir) / PER_TARGET
    return pd.read_csv(path) if path.is_file() else None


def write_curves(run_dir: str | Path, rows: list[dict]) -> Path:
    """<run_dir>/coverage-curves.csv (atomic): an inverse run's calibration curves, one row per (target, draws, against,
    basis, level) (rwbench.metrics.posterior_fidelity.run_fidelity)."""
    import pandas as pd

    path = Path(run_dir) / CURVES
    with atomic_write(path, "w") as handle:
        pd.DataFrame(rows).to_csv(handle, index=False)
    return path


def read_curves(run_dir: str | Path):
    """The calibration curves of an inverse run (write_curves), or None when evaluate wrote none."""
    import pandas as pd

    path = Path(run_dir) / CURVES
    return pd.read_csv(path) if path.is_file() else None


def write_floors(path: str | Path, rows: list[dict]):
    """Write results/floors.csv (FLOOR_COLUMNS) atomically; returns the DataFrame."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=FLOOR_COLUMNS)
    with atomic_write(path, "w") as handle:
        frame.to_csv(handle, index=False)
    return frame


def read_floors(path: str | Path):
    """results/floors.csv as a DataFrame (reference, n, metric, mean, sd, draws, n_ref, source, pool)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no floors table; run `rwbench floors` first")
    frame = pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN", ""],
                        dtype={"reference": str, "metric": str, "source": str})
    missing = [c for c in FLOOR_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a floors table (missing column(s) {', '.join(missing)})")
    return frame


def floor_of(floors, reference: str, n: int, metric: str) -> tuple[float, float] | None:
    """(mean, sd) of the floor of `metric` at (reference label, n), or None when floors.csv has no such row."""
    hit = floors[(floors["reference"] == reference) & (floors["n"] == int(n)) & (floors["metric"] == metric)]
    if hit.empty:
        return None
    return float(hit["mean"].iloc[0]), float(hit["sd"].iloc[0])


# ---------------------------------------------------------------- reference identity


def check_reference(reference: dict) -> dict:
    """A reference spec {"kind": "dataset", dataset, split, resolution} or {"kind": "file", path} (ValueError else)."""
    if not isinstance(reference, dict) or reference.get("kind") not in ("dataset", "file"):
        raise ValueError(f"reference: expected {{'kind': 'dataset'|'file', ...}}, got {reference!r}")
    if reference["kind"] == "dataset":
        missing = [k for k in ("dataset", "split", "resolution") if k not in reference]
        if missing:
            raise ValueError(f"reference: dataset kind needs keys {missing}")
    elif "path" not in reference:
        raise ValueError("reference: file kind needs a 'path' to a uint8 tensor [N, C, H, W] (torch.save, or "
                         "safetensors with key 'images')")
    return reference


def reference_key(reference: dict) -> str:
    """Readable unique name of a reference set: <dataset>-<split>-r<res> or file-<stem>-<sha256[:12]>."""
    reference = check_reference(reference)
    if reference["kind"] == "dataset":
        return f"{reference['dataset']}-{reference['split']}-r{int(reference['resolution'])}"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(reference["path"]).stem)
    return f"file-{stem}-{file_sha256(reference['path'])[:12]}"


def reference_label(reference: dict) -> str:
    """Value of the `reference` column: dataset:<name>/<split>/<res> or file:<path>@sha256:<12 hex>."""
    reference = check_reference(reference)
    if reference["kind"] == "dataset":
        return f"dataset:{reference['dataset']}/{reference['split']}/{int(reference['resolution'])}"
    return f"file:{reference['path']}@sha256:{file_sha256(reference['path'])[:12]}"
