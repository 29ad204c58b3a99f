"""The conditional random walk of eq. 22: the template plus the exact likelihood gradient A^T (y - A x) / eta^2 of a
linear measurement y = A x + eta n, its step rule tau_k = min(c sigma_k^2, cap) and the measurement-noise checks.

The operator is any object with A, AT, norm_sq, output_shape, check_input and config (rwbench.tasks.operators'
LinearOperator is one: MeasurementOperator); this module imports none, so the walk stays with the paper's core.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Protocol, Sequence

import torch

from rwbench.core import schedules
from rwbench.core.walk import random_walk

CAPS = ("lipschitz", "paper-code", "none")


class MeasurementOperator(Protocol):
    """What the conditional walk needs of a linear operator (rwbench.tasks.operators.LinearOperator is one)."""

    def A(self, x: torch.Tensor) -> torch.Tensor: ...

    def AT(self, y: torch.Tensor) -> torch.Tensor: ...

    def norm_sq(self, image_shape) -> float: ...

    def output_shape(self, image_shape) -> tuple: ...

    def check_input(self, x: torch.Tensor) -> None: ...

    def config(self) -> dict: ...


def check_eta(eta) -> float:
    """Validate the measurement noise level eta > 0."""
    eta = float(eta)
    if not eta > 0 or not math.isfinite(eta):
        raise ValueError(f"eta: need a finite measurement noise level > 0, got {eta}")
    return eta


def eta_on_unit_scale(eta: float, data_range: Sequence[float]) -> float:
    """eta expressed on a common [0, 1] data scale: eta / (hi - lo) (paper Sec. 7: VP [-1, 1] halves it)."""
    eta = check_eta(eta)
    lo, hi = (float(v) for v in data_range)
    if not hi > lo:
        raise ValueError(f"data_range: need (lo, hi) with hi > lo, got {tuple(data_range)}")
    return eta / (hi - lo)


def likelihood_gradient(operator: MeasurementOperator, y: torch.Tensor, eta: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """grad_x log N(y; A x, eta^2 I) = A^T (y - A x) / eta^2 (eq. 22), exact."""
    inv_var = 1.0 / check_eta(eta) ** 2

    def grad(x: torch.Tensor) -> torch.Tensor:
        return operator.AT(y - operator.A(x)) * inv_var

    return grad


def step_cap(cap: str, operator: MeasurementOperator, eta: float, image_shape) -> float | None:
    """Step cap of eq. 22: 1/L with L = ||A^T A||/eta^2 ("lipschitz"), eta^2 ("paper-code", the official code) or None ("none")."""
    eta = check_eta(eta)
    if cap == "lipschitz":
        return eta * eta / operator.norm_sq(image_shape)
    if cap == "paper-code":
        return eta * eta
    if cap in ("none", None):
        return None
    raise ValueError(f"cap: choose one of {', '.join(CAPS)}, got {cap!r}")


def conditional_steps(sigmas, c: float, operator: MeasurementOperator, eta: float, image_shape, cap: str = "lipschitz") -> torch.Tensor:
    """tau_k = min(c sigma_k^2, cap) with the cap of step_cap (eq. 22)."""
    return schedules.proportional_steps(sigmas, c, cap=step_cap(cap, operator, eta, image_shape))


@dataclasses.dataclass
class ConditionalSetup:
    """Resolved settings of one conditional task: operator, eta on the model scale and on [0, 1], step rule and its cap."""

    operator: MeasurementOperator
    eta: float
    data_range: tuple[float, float]
    image_shape: tuple[int, int, int]
    c: float
    cap: str = "lipschitz"

    def __post_init__(self) -> None:
        self.eta = check_eta(self.eta)
        self.data_range = tuple(float(v) for v in self.data_range)
        self.image_shape = tuple(int(v) for v in self.image_shape)
        if not self.c > 0:
            raise ValueError(f"c: need a positive step factor, got {self.c}")
        if self.cap not in CAPS:
            raise ValueError(f"cap: choose one of {', '.join(CAPS)}, got {self.cap!r}")
        self.operator.output_shape(self.image_shape)

    @property
    def eta_unit(self) -> float:
        """eta on the common [0, 1] scale."""
        return eta_on_unit_scale(self.eta, self.data_range)

    @property
    def norm_sq(self) -> float:
        """||A^T A|| by power iteration."""
        return self.operator.norm_sq(self.image_shape)

    @property
    def lipschitz(self) -> float:
        """L = ||A^T A|| / eta^2, the Lipschitz constant of the likelihood gradient."""
        return self.norm_sq / self.eta**2

    @property
    def tau_cap(self) -> float | None:
        """The step cap in force (None for cap="none")."""
        return step_cap(self.cap, self.operator, self.eta, self.image_shape)

    def taus(self, sigmas) -> torch.Tensor:
        """tau_k = min(c sigma_k^2, cap)."""
        return schedules.proportional_steps(sigmas, self.c, cap=self.tau_cap)

    def to_dict(self) -> dict:
        """Plain-data record for run specs."""
        return {"operator": self.operator.config(), "eta": self.eta, "eta_unit": self.eta_unit,
                "data_range": list(self.data_range), "image_shape": list(self.image_shape), "c": self.c,
                "cap": self.cap, "tau_cap": self.tau_cap, "norm_sq": self.norm_sq, "lipschitz": self.lipschitz}


def conditional_random_walk(
    denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    operator: MeasurementOperator,
    eta: float,
    sigmas,
    temperatures,
    *,
    c: float | None = None,
    taus=None,
    cap: str = "lipschitz",
    noise: torch.Tensor | None = None,
    generator=None,
    final_noise: bool = False,
    callback=None,
) -> torch.Tensor:
    """Eq. 22: x_{k+1} = x_k + (tau_k/sigma_k^2)(D(x_k) - x_k) + (tau_k/eta^2) A^T(y - A x_k) + sqrt(2 tau_k T_k) n_k.

    Give either `c` (then tau_k = min(c sigma_k^2, cap), cap as in step_cap) or explicit `taus`.
    """
    operator.check_input(x)
    expected = (x.shape[0], *operator.output_shape(x.shape[1:]))
    if tuple(y.shape) != expected:
        raise ValueError(f"y: need measurements of shape {expected} for x of shape {tuple(x.shape)}, got {tuple(y.shape)}")
    if (c is None) == (taus is None):
        raise ValueError("c/taus: give exactly one of the step factor c or explicit step sizes taus")
    if taus is None:
        taus = conditional_steps(sigmas, c, operator, eta, x.shape[1:], cap)
    grad = likelihood_gradient(operator, y.to(x.dtype), eta)
    return random_walk(denoiser, x, sigmas, taus, temperatures, noise=noise, generator=generator,
                       likelihood_grad=grad, final_noise=final_noise, callback=callback)


__all__ = ["MeasurementOperator", "check_eta", "eta_on_unit_scale", "likelihood_gradient", "step_cap", "conditional_steps", "ConditionalSetup",
           "conditional_random_walk", "CAPS"]
