"""Model registry: a name such as `ffhq-vp-adm` or `digits-vp` maps to a loader returning a Denoiser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

_MODELS: dict[str, "ModelEntry"] = {}


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: how to load it and the conventions it follows."""

    name: str
    family: str  # vp | ve | iadb | oracle
    data_range: tuple[float, float]
    loader: Callable[..., Any]  # loader(**kwargs) -> LoadedModel
    description: str = ""
    defaults: dict = field(default_factory=dict)


def register_model(name: str, *, family: str, data_range: tuple[float, float], description: str = "", **defaults):
    """Decorator registering `loader(**kwargs)` under `name`."""

    def wrap(loader):
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = ModelEntry(name, family, tuple(data_range), loader, description, dict(defaults))
        return loader

    return wrap


def get_model(name: str) -> ModelEntry:
    """Look up a registered model by name, listing the known names if it is missing."""
    _import_builtin_entries()
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(sorted(_MODELS)) or 'none'}")
    return _MODELS[name]


def list_models() -> list[str]:
    """Names of all registered models."""
    _import_builtin_entries()
    return sorted(_MODELS)


def _import_builtin_entries() -> None:
    """Import the modules whose import registers the built-in models."""
    import importlib

    for module in ("rwbench.models.pretrained", "rwbench.models.embedded"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
