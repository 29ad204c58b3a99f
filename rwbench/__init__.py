"""rwbench: score-based diffusion sampling as random walks with Tweedie (Park et al., IEEE SPM 2025)."""

__version__ = "0.1.0"
