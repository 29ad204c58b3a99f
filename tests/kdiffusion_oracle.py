"""Optional test oracle: k-diffusion's samplers module (crowsonkb/k-diffusion), loaded without its package __init__.

k-diffusion's __init__ imports its training stack (scikit-image, clean-fid, ...); its samplers module needs only
scipy, torchdiffeq, torchsde and its utils. `sampling()` returns that module, or None with the reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

_ALIAS = "_kdiffusion_oracle"


def sampling():
    """(module, None) when k_diffusion's samplers import, else (None, reason)."""
    if _ALIAS + ".sampling" in sys.modules:
        return sys.modules[_ALIAS + ".sampling"], None
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        return None, "k-diffusion is not installed (pip install k-diffusion --no-deps torchsde torchdiffeq)"
    pkg = types.ModuleType(_ALIAS)
    pkg.__path__ = [str(Path(p)) for p in spec.submodule_search_locations]
    sys.modules[_ALIAS] = pkg
    try:
        module = importlib.import_module(_ALIAS + ".sampling")
    except ImportError as exc:
        sys.modules.pop(_ALIAS, None)
        return None, f"k_diffusion.sampling does not import here ({exc})"
    return module, None


class StepNoise:
    """A k-diffusion noise_sampler(sigma, sigma_next) that returns noise[i] for the step that starts at sigmas[i]."""

    def __init__(self, noise, sigmas):
        self.noise = noise
        self.sigmas = [float(s) for s in sigmas]
        self.calls = []

    def __call__(self, sigma, sigma_next):
        i = self.sigmas.index(float(sigma))
        self.calls.append(i)
        return self.noise[i]
