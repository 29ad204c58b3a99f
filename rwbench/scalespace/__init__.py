"""Scale-space diagnostics (after P. Peter, "Generalised Diffusion Probabilistic Scale-Spaces"): exact forward kernels,
osmosis and homogeneous diffusion filters, and the D1-D7 measurements along sampler trajectories."""

from rwbench.scalespace.filters import homogeneous_diffusion, osmosis, osmosis_stability_bound, relative_entropy
from rwbench.scalespace.forward import (BlurNoiseProcess, HeatBlurProcess, VEProcess, VPProcess, forward_process)

__all__ = ["osmosis", "homogeneous_diffusion", "osmosis_stability_bound", "relative_entropy", "VPProcess", "VEProcess",
           "HeatBlurProcess", "BlurNoiseProcess", "forward_process"]
