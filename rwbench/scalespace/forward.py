"""Exact Gaussian forward kernels p(x_i | x_0) = N(A_i x_0, s_i^2 I): VP, VE, heat blur, blur + noise (scale-space.md).

Every process acts on batches [B, C, H, W] (float64) and is indexed by a `level`:
- VPProcess, BlurNoiseProcess: the integer diffusion step t in 0..T-1 (linear betas 1e-4..0.02, T = 1000);
- VEProcess: the noise level sigma >= 0;
- HeatBlurProcess: the diffusion time t >= 0 (t = sigma_B^2 / 2 for a Gaussian blur of sigma_B pixels).
A_i is diagonal in the orthonormal 2-D DCT (a scalar for VP and VE); `signal_scale` returns that diagonal.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from rwbench.scalespace.dct import dct_filter, laplacian_eigenvalues
from rwbench.core.schedules import alphas_cumprod, linear_betas, sigma_of_abar

F64 = torch.float64
LOG_2PI_E = math.log(2.0 * math.pi * math.e)


def _check_batch(x0: torch.Tensor) -> torch.Tensor:
    if not isinstance(x0, torch.Tensor) or x0.dim() != 4:
        raise ValueError(f"x0: need a tensor [B, C, H, W], got {getattr(x0, 'shape', type(x0))}")
    return x0.to(F64)


class ForwardProcess(ABC):
    """Common interface of the exact kernels: x_i = A_i x_0 + s_i eps with A_i diagonal in the 2-D DCT."""

    name = "forward"

    @abstractmethod
    def check_level(self, level) -> float:
        """Validate one level and return it as a number."""

    @abstractmethod
    def noise_std(self, level) -> float:
        """s_i, the standard deviation of the isotropic kernel noise."""

    @abstractmethod
    def signal_scale(self, level, shape: tuple[int, int] | None = None) -> torch.Tensor:
        """Diagonal of A_i in the DCT basis: a 0-d tensor for VP/VE, [H, W] for blur kernels."""

    def variance(self, level) -> float:
        """Kernel variance s_i^2 per dimension."""
        return self.noise_std(level) ** 2

    def conditional_entropy(self, level) -> float:
        """H(x_i | x_0) / n = 0.5 ln(2 pi e s_i^2) (isotropic Gaussian kernel)."""
        s2 = self.variance(level)
        if not s2 > 0:
            raise ValueError(f"level {level!r}: the kernel is noise-free (s = 0), its conditional entropy is -inf")
        return 0.5 * (LOG_2PI_E + math.log(s2))

    def apply_signal(self, x0: torch.Tensor, level) -> torch.Tensor:
        """A_i x_0 for a batch [B, C, H, W]."""
        x0 = _check_batch(x0)
        scale = self.signal_scale(level, tuple(x0.shape[-2:]))
        if scale.dim() == 0:
            return float(scale) * x0
        return dct_filter(x0, scale)

    def sample(self, x0: torch.Tensor, level, generator: torch.Generator | None = None) -> torch.Tensor:
        """One exact draw x_i = A_i x_0 + s_i eps, eps ~ N(0, I) from `generator` (float64)."""
        mean = self.apply_signal(x0, level)
        eps = torch.randn(mean.shape, dtype=F64, generator=generator, device=mean.device)
        return mean + self.noise_std(level) * eps

    def marginal_variance(self, x0: torch.Tensor, level) -> torch.Tensor:
        """Per-pixel variance of p(x_i) for the empirical data law of the batch x0: Var_b[(A_i x_0)_b] + s_i^2, [C, H, W]."""
        x0 = _check_batch(x0)
        if x0.shape[0] < 2:
            raise ValueError("x0: need at least 2 images for an ensemble variance")
        return self.apply_signal(x0, level).var(dim=0, unbiased=True) + self.variance(level)

    def operator_matrix(self, level, shape: tuple[int, int, int]) -> torch.Tensor:
        """A_i as a dense [n, n] matrix on flattened [C, H, W] images (for exact moment checks on small images)."""
        n = math.prod(shape)
        basis = torch.eye(n, dtype=F64).reshape(n, *shape)
        return self.apply_signal(basis, level).reshape(n, n).T

    def marginal_moments(self, mean0: torch.Tensor, cov0: torch.Tensor, level, shape: tuple[int, int, int]):
        """Exact mean A m and covariance A S A^T + s^2 I of p(x_i) for data with mean m [n], covariance S [n, n]."""
        A = self.operator_matrix(level, shape)
        n = A.shape[0]
        mean0, cov0 = torch.as_tensor(mean0, dtype=F64).reshape(n), torch.as_tensor(cov0, dtype=F64).reshape(n, n)
        return A @ mean0, A @ cov0 @ A.T + self.variance(level) * torch.eye(n, dtype=F64)


class _DiscreteSchedule:
    """Integer diffusion steps t = 0..T-1 of DDPM's linear beta schedule: abar_t = prod_{s<=t} (1 - beta_s)."""

    def _init_schedule(self, betas):
        betas = linear_betas() if betas is None else torch.as_tensor(betas, dtype=F64)
        self.abar = alphas_cumprod(betas)
        self.T = int(self.abar.numel())

    def check_level(self, level) -> int:
        if isinstance(level, torch.Tensor):
            level = level.item()
        if int(level) != level or not 0 <= int(level) < self.T:
            raise ValueError(f"level: need an integer diffusion step in [0, {self.T - 1}], got {level!r}")
        return int(level)

    def sigma_ve(self, level) -> float:
        """VE noise level of step t: sqrt((1 - abar_t) / abar_t) (eq. 13)."""
        return sigma_of_abar(float(self.abar[self.check_level(level)]))


class VPProcess(_DiscreteSchedule, ForwardProcess):
    """VP kernel A_t = sqrt(abar_t) I, s_t^2 = 1 - abar_t (DDPM, linear betas 1e-4..0.02 over 1000 steps)."""

    name = "vp"

    def __init__(self, betas: torch.Tensor | None = None):
        self._init_schedule(betas)

    def noise_std(self, level) -> float:
        return math.sqrt(1.0 - float(self.abar[self.check_level(level)]))

    def signal_scale(self, level, shape=None) -> torch.Tensor:
        return self.abar[self.check_level(level)].sqrt()


class VEProcess(ForwardProcess):
    """VE kernel A = I, s = sigma (the level is sigma itself; NCSN / VE-SDE)."""

    name = "ve"

    def check_level(self, level) -> float:
        level = float(level)
        if not (math.isfinite(level) and level >= 0):
            raise ValueError(f"level: need a finite noise level sigma >= 0, got {level!r}")
        return level

    def noise_std(self, level) -> float:
        return self.check_level(level)

    def signal_scale(self, level, shape=None) -> torch.Tensor:
        self.check_level(level)
        return torch.tensor(1.0, dtype=F64)


class HeatBlurProcess(ForwardProcess):
    """Heat blur A(t) = C^T diag(exp(-lambda_pq t)) C (reflecting boundaries) with small fixed noise s (0.01)."""

    name = "heat"

    def __init__(self, noise: float = 0.01, h: float = 1.0):
        if not noise > 0:
            raise ValueError(f"noise: need a positive fixed noise level, got {noise}")
        self.noise = float(noise)
        self.h = float(h)

    @staticmethod
    def time_of_blur(sigma_blur: float) -> float:
        """Diffusion time of a Gaussian blur of standard deviation sigma_B pixels: t = sigma_B^2 / 2."""
        return 0.5 * float(sigma_blur) ** 2

    def check_level(self, level) -> float:
        level = float(level)
        if not (math.isfinite(level) and level >= 0):
            raise ValueError(f"level: need a finite diffusion time t >= 0, got {level!r}")
        return level

    def noise_std(self, level) -> float:
        self.check_level(level)
        return self.noise

    def signal_scale(self, level, shape=None) -> torch.Tensor:
        if shape is None:
            raise ValueError("shape: the heat kernel's DCT factors need the image size (H, W)")
        lam = laplacian_eigenvalues(shape[0], shape[1], "continuous", self.h)
        return torch.exp(-lam * self.check_level(level))


class BlurNoiseProcess(_DiscreteSchedule, ForwardProcess):
    """Blurring diffusion: DCT factor sqrt(abar_t) ((1 - d_min) exp(-lambda tau_t) + d_min), noise s_t^2 = 1 - abar_t.

    Blur time tau_t = sigma_B,max^2 sin^2(pi u / 2) / 2 with u = t / (T - 1) (after Hoogeboom & Salimans 2023).
    """

    name = "blur-noise"

    def __init__(self, betas: torch.Tensor | None = None, blur_sigma_max: float = 20.0, d_min: float = 0.001,
                 h: float = 1.0):
        self._init_schedule(betas)
        if not blur_sigma_max > 0:
            raise ValueError(f"blur_sigma_max: need a positive maximal blur, got {blur_sigma_max}")
        if not 0 <= d_min < 1:
            raise ValueError(f"d_min: need 0 <= d_min < 1, got {d_min}")
        self.blur_sigma_max, self.d_min, self.h = float(blur_sigma_max), float(d_min), float(h)

    def blur_time(self, level) -> float:
        """tau_t = sigma_B,max^2 sin^2(pi u / 2) / 2, u = t / (T - 1)."""
        u = self.check_level(level) / (self.T - 1)
        return 0.5 * self.blur_sigma_max**2 * math.sin(0.5 * math.pi * u) ** 2

    def noise_std(self, level) -> float:
        return math.sqrt(1.0 - float(self.abar[self.check_level(level)]))

    def signal_scale(self, level, shape=None) -> torch.Tensor:
        if shape is None:
            raise ValueError("shape: the blur kernel's DCT factors need the image size (H, W)")
        lam = laplacian_eigenvalues(shape[0], shape[1], "continuous", self.h)
        d = (1.0 - self.d_min) * torch.exp(-lam * self.blur_time(level)) + self.d_min
        return self.abar[self.check_level(level)].sqrt() * d


PROCESSES = {"vp": VPProcess, "ve": VEProcess, "heat": HeatBlurProcess, "blur-noise": BlurNoiseProcess}


def forward_process(name: str, **kwargs) -> ForwardProcess:
    """Build a forward process by name (vp | ve | heat | blur-noise)."""
    if name not in PROCESSES:
        raise ValueError(f"forward process: unknown {name!r}; choose one of {', '.join(PROCESSES)}")
    return PROCESSES[name](**kwargs)
