"""rwbench: score-based diffusion sampling as random walks with Tweedie (Park et al., IEEE SPM 2025).

The library API (docs/quickstart.md), imported on first use so that `import rwbench` stays light (no torch):

    rwbench.list_models()                     model presets: digits-oracle, digits-vp, digits-ve, digits-iadb, ...
    rwbench.list_samplers()                   sampler names of the sampler table (simplified, ddpm, euler, ...)
    rwbench.load_model(name, checkpoint=None, results_dir="results")   a preset's denoiser D(x, sigma)
    rwbench.load_oracle("digits", path=None, results_dir="results")    the exact Gaussian-mixture oracle
    rwbench.ladder(name, K, sigma_min, sigma_max)   K noise levels, decreasing, no trailing 0
    rwbench.sample(model, sampler, seeds, **sampler_options)   one image per seed (as `rwbench generate`)
    rwbench.score(images, reference)          FID / KID / precision-recall with intervals (as `rwbench score --json`)

They live in rwbench.tools.api; the command line is `rwbench` (`python -m rwbench`).
"""

__version__ = "0.1.0"

API = ("list_models", "list_samplers", "load_model", "load_oracle", "ladder", "sample", "score", "Samples")
__all__ = ["__version__", *API]


def __getattr__(name: str):
    """The library API on first use (PEP 562): rwbench.sample etc. come from rwbench.tools.api."""
    if name in API:
        from rwbench.tools import api

        return getattr(api, name)
    raise AttributeError(f"module 'rwbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
