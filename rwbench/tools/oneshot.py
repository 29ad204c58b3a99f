"""Images on disk and one-shot use: export a run's samples as PNG + .npz, sample one cell without a config file,
score a folder of images (the library behind `rwbench export`, `rwbench generate` and `rwbench score`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from rwbench.errors import UserError
from rwbench.io import atomic_path, save_safetensors, write_json

NPZ_NAME = "samples.npz"   # arr_0: uint8 [N, H, W, C], the layout of ADM's / guided-diffusion's evaluation batches
PNG_SUFFIXES = (".png", ".jpg", ".jpeg")


def write_images(images: torch.Tensor, out, indices=None, name: str = "{index:06d}.png") -> list[Path]:
    """uint8 [N, C, H, W] -> out/<index:06d>.png (or `name` formatted with index=; grey for C = 1, RGB for C = 3) and
    out/samples.npz (arr_0, and `index`); returns the PNGs."""
    import numpy as np
    from PIL import Image

    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images: need uint8 [N, 1 or 3, H, W], got {images.dtype} {tuple(images.shape)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    indices = list(range(len(images))) if indices is None else [int(i) for i in indices]
    hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
    paths = []
    for i, image in zip(indices, hwc):
        path = out / name.format(index=i)
        with atomic_path(path) as tmp:
            Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(tmp, format="PNG")
        paths.append(path)
    with atomic_path(out / NPZ_NAME) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, arr_0=hwc, index=np.asarray(indices, dtype=np.int64))
    return paths


def export_run(run_dir, out, include_diverged: bool = False) -> dict:
    """Write a run's samples (all shards, by image index) as PNGs + samples.npz; diverged images are left out unless
    asked for (their pixels are zeros). Returns a summary that is also written to out/export.json."""
    from rwbench.run.rundir import load_shards

    spec, data = load_shards(run_dir)
    keep = torch.ones_like(data["diverged"]) if include_diverged else ~data["diverged"]
    paths = write_images(data["sample_uint8"][keep], out, data["index"][keep].tolist())
    summary = {"run_id": spec.get("run_id", Path(run_dir).name), "images": len(paths),
               "diverged_left_out": int((~keep).sum()), "npz": str(Path(out) / NPZ_NAME),
               "shape": list(data["sample_uint8"].shape[1:])}
    write_json(Path(out) / "export.json", summary)
    return summary


def read_images(folder) -> torch.Tensor:
    """Every PNG/JPEG in `folder` (sorted by name) as uint8 [N, C, H, W]: C = 1 if all are greyscale, else RGB.
    All images must share one size (no resizing: resize before scoring if you mean to)."""
    import numpy as np

    from rwbench.data import open_image

    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PNG_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{folder}: no PNG/JPEG images; export a run with `rwbench export RUN --out {folder}`")
    opened = [(path, open_image(path)) for path in files]   # 16-bit grey scaled; unreadable: one line naming it
    grey = all(im.mode == "L" for _, im in opened)
    arrays = []
    for path, im in opened:
        arr = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.uint8)
        arrays.append(arr[:, :, None] if grey else arr)
        if arrays[-1].shape != arrays[0].shape:
            raise ValueError(f"{path}: size {arrays[-1].shape[:2]} differs from {files[0].name}'s "
                             f"{arrays[0].shape[:2]}; resize the folder to one size first")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def parse_reference(text: str, cache_dir) -> dict:
    """`dataset:NAME/SPLIT/RES`, a uint8 tensor file (torch.save or safetensors key `images`), or a folder of images
    (stored once as a tensor file under cache_dir/folders, so its statistics are cached by content)."""
    if text.startswith("dataset:"):
        parts = text[len("dataset:"):].split("/")
        if len(parts) != 3 or not parts[2].isdigit():
            raise ValueError(f"--reference {text!r}: write a dataset as dataset:NAME/SPLIT/RESOLUTION, "
                             f"e.g. dataset:digits/test/16")
        return {"kind": "dataset", "dataset": parts[0], "split": parts[1], "resolution": int(parts[2])}
    path = Path(text)
    if path.is_file():
        return {"kind": "file", "path": str(path)}
    if path.is_dir():
        target = Path(cache_dir) / "folders" / f"{path.resolve().name}.safetensors"
        save_safetensors(target, {"images": read_images(path)})
        return {"kind": "file", "path": str(target)}
    raise FileNotFoundError(f"--reference {text!r}: not a file or folder; give dataset:NAME/SPLIT/RES, a uint8 "
                            f"tensor file or a folder of images")


def score_images(images: torch.Tensor, reference: dict, reference_cache, *, dataset: str | None = None, **options):
    """FID / KID / precision-recall (and the classifier statistics for digits-cnn) of uint8 images against a
    reference set, through the same path as a run's metrics (rwbench.metrics.evaluate.evaluate_run on a one-shard run
    built in a temporary folder). `options` are evaluate_run's (extractor, device, ...)."""
    from rwbench.metrics.evaluate import evaluate_run

    n = len(images)
    spec = {"run_id": "score", "reference": reference, "n_shards": 1, "task": "uncond",
            "dataset": dataset or reference.get("dataset")}
    shard = {"index": torch.arange(n), "sample_uint8": images, "diverged": torch.zeros(n, dtype=torch.bool)}
    with tempfile.TemporaryDirectory(prefix="rwbench-score-") as tmp:
        write_json(Path(tmp) / "spec.json", spec)
        (Path(tmp) / "shards").mkdir()
        torch.save(shard, Path(tmp) / "shards" / "shard-00000.pt")
        return evaluate_run(tmp, reference_cache=reference_cache, write=False, lpips=False, **options)


SUMMARY_FIELDS = ("value", "ci_lo", "ci_hi", "se", "n", "n_ref")


def score_summary(frame) -> dict:
    """score_images' rows as one JSON-ready object: {"metrics": {metric: {value, ci_lo, ci_hi, se, n, n_ref}},
    "extractor": <name@weights hash>, "reference": <the reference's identity>} (NaN -> None; diverged_fraction left
    out, as `rwbench score` prints)."""
    import math

    rows = frame[frame["metric"] != "diverged_fraction"]
    metrics = {}
    for row in rows.to_dict("records"):
        entry = {}
        for key in SUMMARY_FIELDS:
            value = row.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                entry[key] = None
            else:
                entry[key] = int(value) if key in ("n", "n_ref") else float(value)
        metrics[str(row["metric"])] = entry
    fid = rows[rows["metric"] == "fid"] if len(rows) else rows
    named = fid if len(fid) else rows
    first = lambda col: (str(named[col].iloc[0]) if len(named) and col in named and named[col].notna().iloc[0]  # noqa: E731
                         else None)
    return {"metrics": metrics, "extractor": first("extractor"), "reference": first("reference")}


def one_cell_spec(config: dict, model: str, sampler: str, seeds, *, checkpoint=None, results_dir=None,
                  seed: int | None = None, **options) -> dict:
    """The run spec of one cell (model x sampler, one image per seed, in one shard) built by rwbench.plan.grid from the
    config's `models:` entry (rwbench.plan.oneshot.model_presets: a mapping, a path, or None for the packaged default
    config). Image s is drawn from seed s (stream (seed, uncond, s): the DAG's image s of that cell), so a subset of
    seeds gives the same images. `checkpoint` replaces the preset's, `results_dir` is where `embedded:` checkpoints
    and references resolve (default: the config's results_dir, else results), `seed` the base seed (default: the
    schema's). `options` are sampler parameters (steps, schedule, c, T0, TK, ...; None: the sampler table's default);
    one the sampler does not take is refused."""
    from rwbench.plan.grid import expand
    from rwbench.plan.config import load_config
    from rwbench.plan.oneshot import DEFAULT_CONFIG, model_preset, option_problem, parse_seeds
    from rwbench.plan.samplers import SAMPLERS, get

    if not get(sampler).uncond:
        plain = ", ".join(name for name, row in SAMPLERS.items() if row.uncond)
        raise ValueError(f"--sampler {sampler}: a posterior sampler (it needs a measurement of an inverse task); "
                         f"`rwbench generate` draws unconditional samples: choose one of {plain}, or run {sampler} "
                         f"in an experiment with `tasks:` through snakemake")
    problem = option_problem(sampler, options)
    if problem:
        raise ValueError(problem)
    seeds = parse_seeds(seeds)
    if not isinstance(config, dict):
        config = load_config(config if config is not None else DEFAULT_CONFIG)
    settings = model_preset(model, config)
    if checkpoint is not None:
        settings["checkpoint"] = str(checkpoint)
    if results_dir is None:
        results_dir = config.get("results_dir") or "results"
    experiment = {"models": [model], "samplers": [sampler], "n_images": len(seeds), "shard_size": len(seeds),
                  "sampler_options": {sampler: {k: v for k, v in options.items() if v is not None}}}
    if seed is not None:
        experiment["seed"] = int(seed)
    cell = {"results_dir": str(results_dir), "models": {model: settings}, "experiments": {"generate": experiment}}
    specs = list(expand(cell).values())
    if len(specs) != 1:
        family = settings.get("family", "?")
        raise ValueError(f"--sampler {sampler}: makes {len(specs)} runs on --model {model} (family {family}), not one; "
                         f"choose a sampler that runs on this model's family (rwbench.plan.samplers)")
    return dict(specs[0], seeds=seeds)


def check_out_folder(out, force: bool = False) -> Path:
    """`out` may be new or an empty folder; an existing file or earlier output there is replaced only with --force
    (the earlier PNGs, samples.npz and spec.json are removed first, so no image of an earlier call is left behind)."""
    out = Path(out)
    from rwbench.plan.oneshot import SEED_PATTERN

    earlier = ([p for p in out.iterdir() if p.name in (NPZ_NAME, "spec.json", "export.json")
                or (p.suffix == ".png" and p.stem.isdigit()) or SEED_PATTERN.match(p.name)] if out.is_dir() else [])
    if (out.exists() and not out.is_dir()) or earlier:
        if not force:
            what = "is a file" if not out.is_dir() else f"holds earlier output ({earlier[0].name}, ...)"
            raise UserError(f"--outdir {out}: {what}; pass --force to overwrite it or choose another --outdir")
        for path in earlier if out.is_dir() else [out]:
            path.unlink()
    return out


def generate(spec: dict, out, *, device: str = "cpu", batch_size: int | None = None, progress: bool = True,
             force: bool = False) -> dict:
    """Sample the images of a one-cell spec (one per seed of spec["seeds"]) and write out/seed<seed:06d>.png,
    samples.npz (arr_0 and the seeds as `index`) and spec.json to `out` (check_out_folder); diverged images are left
    out (counted)."""
    from rwbench.plan.oneshot import SEED_PNG
    from rwbench.run.sample import sample_images

    out = check_out_folder(out, force)
    seeds = [int(s) for s in spec.get("seeds", range(int(spec["n_images"])))]
    shard = sample_images(spec, seeds, device=device, batch_size=batch_size, progress=progress)
    keep = ~shard["diverged"]
    paths = write_images(shard["sample_uint8"][keep], out, shard["index"][keep].tolist(),
                         name=SEED_PNG.replace("{seed", "{index"))
    write_json(Path(out) / "spec.json", spec)
    return {"images": len(paths), "diverged": int((~keep).sum()), "out": str(out),
            "diverged_seeds": shard["index"][~keep].tolist()}
