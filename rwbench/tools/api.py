"""rwbench's library API (re-exported lazily by `rwbench/__init__`, so `import rwbench` stays light): model presets and
loading, the exact oracle, noise ladders, sampling one image per seed and scoring images. Each function goes through the
same code as the CLI and the DAG (`rwbench generate` / `score`, rwbench.run.sample, rwbench.metrics.evaluate), so a
notebook and the benchmark cannot disagree. docs/quickstart.md shows them in use.

Ladder convention (docs/samplers.md): a ladder is K noise levels sigma_0 > ... > sigma_{K-1} > 0, without a trailing
0. A template walk takes one step per level; solvers that end at sigma = 0 append the 0 themselves
(rwbench.run.runners.solver_sigmas).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

DEFAULT_RESULTS = "results"


def list_models(config=None) -> list[str]:
    """Names of the model presets (the `models:` section of `config`, default the packaged config/default.yaml)."""
    from rwbench.plan.oneshot import model_presets

    return sorted(model_presets(config))


def list_samplers(unconditional: bool = True) -> list[str]:
    """Sampler names of the sampler table (rwbench.plan.samplers); by default those that draw unconditional samples."""
    from rwbench.plan.samplers import SAMPLERS

    return [name for name, row in SAMPLERS.items() if row.uncond or not unconditional]


def load_model(name: str, checkpoint=None, *, results_dir=DEFAULT_RESULTS, config=None, device="cpu", dtype=None):
    """The denoiser D(x, sigma) of model preset `name` (e.g. "digits-vp", "digits-oracle"; see `list_models()`), loaded
    from `checkpoint` or the preset's own (`embedded:<kind>` = <results_dir>/embedded/<kind>, what the DAG trains).
    `dtype` None: the loader's default (float32 networks, float64 oracles)."""
    from rwbench.models.registry import get_model
    from rwbench.plan.grid import resolve_checkpoint
    from rwbench.plan.oneshot import model_preset

    settings = model_preset(name, config)
    path = checkpoint if checkpoint is not None else resolve_checkpoint({"results_dir": str(results_dir)},
                                                                         settings.get("checkpoint"))
    if settings.get("family") == "oracle":        # one clear message when the oracle is missing
        return load_oracle(settings.get("dataset", "digits"), path, device=device)
    options = dict(settings.get("loader_options") or {})
    if dtype is not None:
        options["dtype"] = dtype
    return get_model(settings.get("registry", name)).loader(path, device=device, **options)


def load_oracle(dataset: str = "digits", path=None, *, results_dir=DEFAULT_RESULTS, device="cpu"):
    """The exact Gaussian-mixture oracle of `dataset` (digits or faces): a denoiser whose D(x, sigma), score and
    samples are exact (rwbench.models.denoisers.GaussianMixtureDenoiser, float64). `path`: the oracle folder that
    `rwbench prepare` writes or its <dataset>-gmm.safetensors file; default <results_dir>/embedded/oracle."""
    from rwbench.models.denoisers import GaussianMixtureDenoiser
    from rwbench.models.oracle import oracle_file

    folder = Path(path) if path is not None else Path(results_dir) / "embedded" / "oracle"
    file = folder if folder.suffix == ".safetensors" else oracle_file(folder, dataset)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no {dataset} oracle there; fit it with `rwbench prepare --config "
                                f"config/embedded-default.yaml --out {file.parent}` (or run the default DAG), or pass "
                                f"the folder that holds it")
    oracle = GaussianMixtureDenoiser.load(file)
    if str(device) != "cpu":
        for name in ("weights", "log_weights", "means", "covs", "eigvals", "eigvecs"):
            setattr(oracle, name, getattr(oracle, name).to(device))
    return oracle


def ladder(name: str, K: int, sigma_min: float | None = None, sigma_max: float | None = None, *,
           family: str | None = None, betas=None) -> torch.Tensor:
    """K noise levels sigma_0 > ... > sigma_{K-1} > 0 (float64), no trailing 0: the levels a template walk steps
    through; a solver running to sigma = 0 appends the 0 itself. `name`: sigmoid, linear, geometric, karras (spanning
    [sigma_min, sigma_max]), vp_pretrained (a VP model's own DDPM levels of `betas`, default linear 1e-4..0.02 over
    1000 steps; the range is ignored), or pretrained with `family` (vp: vp_pretrained, else geometric), the rule
    rwbench.plan.samplers.resolve_schedule applies to runs."""
    from rwbench.core.schedules import named_ladder
    from rwbench.plan.samplers import resolve_schedule

    if name == "pretrained":
        if family is None:
            raise ValueError("ladder 'pretrained': its levels depend on the model family; pass family= (vp, ve, iadb, "
                             "oracle)")
        name = resolve_schedule(name, family)
    if name != "vp_pretrained" and (sigma_min is None or sigma_max is None):
        raise ValueError(f"ladder {name!r}: give sigma_min and sigma_max (e.g. a preset's, 0.01 and 8.5 for the "
                         f"digits oracle)")
    betas = torch.as_tensor(betas, dtype=torch.float64) if betas is not None else None
    return named_ladder(name, int(K), float(sigma_min or 0.0), float(sigma_max or 0.0), betas=betas)


@dataclass
class Samples:
    """What `sample` returns: uint8 images [N, C, H, W] in the order of `seeds` (a diverged image is all zeros and
    flagged in `diverged`), and the resolved run spec (spec["run_id"] names the cell)."""

    images: torch.Tensor
    seeds: list
    diverged: torch.Tensor
    spec: dict


def sample(model: str, sampler: str = "simplified", seeds=range(16), *, checkpoint=None, results_dir=None, config=None,
           seed: int | None = None, device="cpu", batch_size: int | None = None, progress: bool = False,
           **options) -> Samples:
    """One image per seed from model preset `model` with `sampler` (image s is the same whatever the other seeds, and
    the DAG's image s of that cell, as `rwbench generate`). `seeds`: an iterable of ints or a text such as "0-63" or
    "1,5,9-12". `options` are the sampler's parameters (steps, schedule, c, T0, TK, ancestral_eta, ...; unset: the
    sampler table's defaults); one the sampler does not take raises ValueError. `results_dir`: where `embedded:`
    checkpoints are (default results)."""
    from rwbench.run.sample import sample_images
    from rwbench.tools.oneshot import one_cell_spec

    spec = one_cell_spec(config, model, sampler, seeds, checkpoint=checkpoint, results_dir=results_dir, seed=seed,
                         **options)
    shard = sample_images(spec, spec["seeds"], device=device, batch_size=batch_size, progress=progress)
    return Samples(shard["sample_uint8"], list(spec["seeds"]), shard["diverged"], spec)


def score(images, reference, *, extractor: str | None = None, extractor_weights=None, results_dir=DEFAULT_RESULTS,
          reference_cache=None, device="cpu", batch_size: int = 64) -> dict:
    """FID / KID / precision-recall (and the classifier statistics for the digits features) of `images` (uint8
    [N, C, H, W], a `Samples`, or a folder of PNGs) against `reference` ("dataset:digits/test/16", a uint8 tensor
    file or a folder), through the metrics of `rwbench evaluate`. Returns what `rwbench score --json` prints:
    {"metrics": {metric: {value, ci_lo, ci_hi, se, n, n_ref}}, "extractor": ..., "reference": ...}. The digits
    features default to the classifier the DAG trained in <results_dir>/embedded/classifier."""
    from rwbench.tools.oneshot import parse_reference, read_images, score_images, score_summary

    if isinstance(images, Samples):
        images = images.images[~images.diverged]
    elif not isinstance(images, torch.Tensor):
        images = read_images(images)
    cache = Path(reference_cache) if reference_cache is not None else Path(results_dir) / "reference"
    ref = parse_reference(str(reference), cache)
    trained = Path(results_dir) / "embedded" / "classifier" / "model.safetensors"
    digits = extractor == "digits-cnn" or (extractor is None and ref.get("dataset") == "digits")
    if extractor_weights is None and digits and trained.is_file():
        extractor_weights = str(trained)
    frame = score_images(images, ref, cache, extractor=extractor,
                         extractor_weights=extractor_weights, device=device, batch_size=batch_size)
    return score_summary(frame)


__all__ = ["list_models", "list_samplers", "load_model", "load_oracle", "ladder", "sample", "Samples", "score"]
