"""Optional upstream reference: k-diffusion's samplers module (crowsonkb/k-diffusion), loaded without its package __init__.

Used only as a test oracle and in `python -m rwbench.tools.bench walk`; nothing in rwbench's samplers depends on it.
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
    """(k_diffusion.sampling, None) when it imports, else (None, the reason in one line)."""
    if _ALIAS + ".sampling" in sys.modules:
        return sys.modules[_ALIAS + ".sampling"], None
    try:
        spec = importlib.util.find_spec("k_diffusion")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None, "k-diffusion is not installed (pip install --no-deps k-diffusion torchsde torchdiffeq trampoline)"
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
