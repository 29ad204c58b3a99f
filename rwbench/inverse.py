"""The inverse-problem math: task operators and measurements, the conditional random walk of eq. 22 (the template
plus the exact likelihood gradient A^T(y - A x)/eta^2), and the checks and timestep ladders the posterior samplers
of rwbench.baselines share (their settings and runs: rwbench.sampling.posterior_settings / run_posterior_sampler)."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import torch

from rwbench import schedules
from rwbench.operators import LinearOperator, check_eta, make_operator
from rwbench.rng import stream_generators, stream_seed
from rwbench.walk import random_walk

F64 = torch.float64
CAPS = ("lipschitz", "paper-code", "none")


def task_operator(task: str, seed: int, targets: Sequence[int], repeat: int = 1, **task_params) -> LinearOperator:
    """Operator of a grid task (rwbench.tasks.TASKS) for `targets`, target t's mask from stream (seed, mask, task, t);
    each target repeated `repeat` times in a row (N posterior draws of one measurement)."""
    from rwbench.tasks import operator_name

    seeds = [stream_seed(seed, "mask", task, int(t)) for t in targets for _ in range(int(repeat))]
    return make_operator(operator_name(task), n_images=len(seeds), seeds=seeds, **task_params)


def measure_targets(task: str, seed: int, targets: Sequence[int], truth: torch.Tensor, eta: float,
                    **task_params) -> tuple[LinearOperator, torch.Tensor]:
    """(operator, y) of targets: masks as task_operator, y = A x + eta n with n from stream (seed, measure, task, t).
    The DAG (rwbench.sampling.make_inverse) and the posterior benchmark both measure through this function."""
    targets = [int(t) for t in targets]
    op = task_operator(task, seed, targets, **task_params)
    y = op.measure(truth, eta, stream_generators(seed, "measure", task, targets))
    return op, y


# ---------------------------------------------------------------- shared by the posterior samplers (rwbench.baselines)


def check_problem(x: torch.Tensor, y: torch.Tensor, operator: LinearOperator) -> None:
    """Raise ValueError unless x is a batch the operator accepts and y has the matching measurement shape."""
    operator.check_input(x)
    expected = (x.shape[0], *operator.output_shape(x.shape[1:]))
    if tuple(y.shape) != expected:
        raise ValueError(f"y: need measurements of shape {expected} for x of shape {tuple(x.shape)}, got {tuple(y.shape)}")


def check_ladder(sigmas) -> torch.Tensor:
    """Validate a strictly decreasing ladder of positive noise levels (the final step of every sampler goes to 0)."""
    sigmas = torch.as_tensor(sigmas, dtype=F64).cpu().reshape(-1)
    if sigmas.numel() < 1 or not torch.all(sigmas > 0) or not torch.all(torch.isfinite(sigmas)):
        raise ValueError("sigmas: need at least one finite noise level > 0")
    if sigmas.numel() > 1 and not torch.all(sigmas[1:] < sigmas[:-1]):
        raise ValueError("sigmas: need a strictly decreasing ladder")
    return sigmas


def uniform_timesteps(K: int, T: int = 1000) -> torch.Tensor:
    """DDIM/DDRM skip schedule, decreasing: t = (K-1) s, ..., s, 0 with s = T // K (DDRM runners: range(0, T, skip))."""
    K = int(K)
    if not 1 <= K <= T:
        raise ValueError(f"steps: need 1 <= steps <= {T}, got {K}")
    return (torch.arange(K, dtype=torch.long) * (T // K)).flip(0)


def quad_timesteps(K: int, T: int = 1000) -> torch.Tensor:
    """DiffPIR's 'quad' schedule, decreasing: t_i = int(sqrt(i/(K-1)) T), the last (T) lowered to T - 1."""
    K = int(K)
    if not 2 <= K <= T:
        raise ValueError(f"steps: need 2 <= steps <= {T}, got {K}")
    t = torch.sqrt(torch.linspace(0, float(T) ** 2, K, dtype=F64)).long()
    t[-1] = t[-1] - 1
    return t.flip(0)


def timestep_sigmas(timesteps, betas=None) -> torch.Tensor:
    """VE levels sigma_t = sqrt((1 - abar_t)/abar_t) of integer DDPM timesteps (betas: linear 1e-4..0.02, T = 1000)."""
    betas = schedules.linear_betas() if betas is None else torch.as_tensor(betas, dtype=F64)
    return schedules.vp_sigmas(betas)[torch.as_tensor(timesteps, dtype=torch.long)]


def eta_on_unit_scale(eta: float, data_range: Sequence[float]) -> float:
    """eta expressed on a common [0, 1] data scale: eta / (hi - lo) (paper Sec. 7: VP [-1, 1] halves it)."""
    eta = check_eta(eta)
    lo, hi = (float(v) for v in data_range)
    if not hi > lo:
        raise ValueError(f"data_range: need (lo, hi) with hi > lo, got {tuple(data_range)}")
    return eta / (hi - lo)


def likelihood_gradient(operator: LinearOperator, y: torch.Tensor, eta: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """grad_x log N(y; A x, eta^2 I) = A^T (y - A x) / eta^2 (eq. 22), exact."""
    inv_var = 1.0 / check_eta(eta) ** 2

    def grad(x: torch.Tensor) -> torch.Tensor:
        return operator.AT(y - operator.A(x)) * inv_var

    return grad


def step_cap(cap: str, operator: LinearOperator, eta: float, image_shape) -> float | None:
    """Step cap of eq. 22: 1/L with L = ||A^T A||/eta^2 ("lipschitz"), eta^2 ("paper-code", the official code) or None ("none")."""
    eta = check_eta(eta)
    if cap == "lipschitz":
        return eta * eta / operator.norm_sq(image_shape)
    if cap == "paper-code":
        return eta * eta
    if cap in ("none", None):
        return None
    raise ValueError(f"cap: choose one of {', '.join(CAPS)}, got {cap!r}")


def conditional_steps(sigmas, c: float, operator: LinearOperator, eta: float, image_shape, cap: str = "lipschitz") -> torch.Tensor:
    """tau_k = min(c sigma_k^2, cap) with the cap of step_cap (eq. 22)."""
    return schedules.proportional_steps(sigmas, c, cap=step_cap(cap, operator, eta, image_shape))


@dataclasses.dataclass
class ConditionalSetup:
    """Resolved settings of one conditional task: operator, eta on the model scale and on [0, 1], step rule and its cap."""

    operator: LinearOperator
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
    operator: LinearOperator,
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


__all__ = ["task_operator", "measure_targets", "check_problem", "check_ladder", "uniform_timesteps", "quad_timesteps",
           "timestep_sigmas", "ConditionalSetup", "conditional_random_walk", "conditional_steps", "likelihood_gradient", "step_cap",
           "eta_on_unit_scale", "CAPS"]

