"""Table II: the classic samplers (DDPM, NCSN, VE-SDE, VP-SDE) and the paper's simplified scheme as walk parameters."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rwbench import schedules
from rwbench.walk import check_walk_params

F64 = torch.float64


@dataclass(frozen=True)
class WalkParams:
    """Parameters of one random walk: levels, steps, temperatures, x_0 = init_scale * N(0, I), last-step noise."""

    sigmas: torch.Tensor
    taus: torch.Tensor
    temperatures: torch.Tensor
    init_scale: float
    final_noise: bool

    def __post_init__(self):
        s, t, T = check_walk_params(self.sigmas, self.taus, self.temperatures)
        object.__setattr__(self, "sigmas", s)
        object.__setattr__(self, "taus", t)
        object.__setattr__(self, "temperatures", T)
        if not self.init_scale > 0:
            raise ValueError(f"init_scale: need a positive scale, got {self.init_scale}")

    @property
    def K(self) -> int:
        """Number of iterations (= denoiser evaluations)."""
        return int(self.sigmas.numel())

    def walk_kwargs(self) -> dict:
        """Keyword arguments for rwbench.walk.random_walk."""
        return {"sigmas": self.sigmas, "taus": self.taus, "temperatures": self.temperatures, "final_noise": self.final_noise}


def ddpm(betas: torch.Tensor, variance: str = "beta") -> WalkParams:
    """DDPM ancestral (Table II): sigma = sqrt((1-abar_t)/abar_t), tau = beta_t/abar_t, T = s'^2_t alpha_t / (2 beta_t)."""
    betas = torch.as_tensor(betas, dtype=F64)
    abar = schedules.alphas_cumprod(betas)
    abar_prev = torch.cat([torch.ones(1, dtype=F64), abar[:-1]])
    if variance == "beta":
        var = betas.clone()
    elif variance == "beta_tilde":
        var = betas * (1.0 - abar_prev) / (1.0 - abar)
    else:
        raise ValueError(f"variance: choose 'beta' or 'beta_tilde', got {variance!r}")
    alphas = 1.0 - betas
    sigmas = torch.sqrt((1.0 - abar) / abar)
    taus = betas / abar
    temps = var * alphas / (2.0 * betas)
    rev = lambda v: v.flip(0)  # k = T-1-t: the walk runs from t = T-1 down to t = 0
    return WalkParams(rev(sigmas), rev(taus), rev(temps), init_scale=float(1.0 / abar[-1].sqrt()), final_noise=False)


def vp_sde(betas: torch.Tensor) -> WalkParams:
    """VP-SDE reverse-diffusion predictor as Table II reads it: the DDPM row with s'^2 = beta_t (T = alpha_t / 2).

    score-SDE's native VP predictor differs from this by O(beta^2) per step (its x-coefficient is
    2 - sqrt(1-beta) instead of 1/sqrt(1-beta)); rwbench.baselines.score_sde.vp_predictor is that native form.
    """
    return ddpm(betas, variance="beta")


def ncsn(levels, n_steps_each: int, eps: float) -> WalkParams:
    """NCSN annealed Langevin (Song & Ermon 2019, Alg. 1): tau = eps sigma_i^2 / (2 sigma_L^2), T = 1, noise every step."""
    levels = torch.as_tensor(levels, dtype=F64).reshape(-1)
    if int(n_steps_each) != n_steps_each or n_steps_each < 1:
        raise ValueError(f"n_steps_each: need a positive integer, got {n_steps_each!r}")
    if not eps > 0:
        raise ValueError(f"eps: need a positive step factor, got {eps}")
    sigmas = levels.repeat_interleave(int(n_steps_each))
    taus = eps * sigmas**2 / (2.0 * levels[-1] ** 2)
    temps = torch.ones_like(sigmas)
    return WalkParams(sigmas, taus, temps, init_scale=float(levels[0]), final_noise=True)


def ve_sde(sigmas) -> WalkParams:
    """VE-SDE reverse-diffusion predictor: tau_k = sigma_k^2 - sigma_{k+1}^2 (sigma_K = 0), T = 1/2, last step noise-free."""
    sigmas = torch.as_tensor(sigmas, dtype=F64).reshape(-1)
    nxt = torch.cat([sigmas[1:], torch.zeros(1, dtype=F64)])
    taus = sigmas**2 - nxt**2
    temps = torch.full_like(sigmas, 0.5)
    return WalkParams(sigmas, taus, temps, init_scale=float(sigmas[0]), final_noise=False)


def simplified(sigmas, c: float, T0: float, TK: float = 1.0, init: str = "sigma") -> WalkParams:
    """The paper's scheme (Sec. V-B): tau_k = c sigma_k^2, T_k linear T_0 -> T_K, no noise in the last step.

    init="sigma" starts from N(0, sigma_0^2 I) (the theory); init="unit" from N(0, I) ("paper-code init").
    """
    sigmas = torch.as_tensor(sigmas, dtype=F64).reshape(-1)
    taus = schedules.proportional_steps(sigmas, c)
    temps = schedules.linear_temperatures(sigmas.numel(), T0, TK)
    if init == "sigma":
        scale = float(sigmas[0])
    elif init == "unit":
        scale = 1.0
    else:
        raise ValueError(f"init: choose 'sigma' (N(0, sigma_0^2 I)) or 'unit' (paper-code N(0, I)), got {init!r}")
    return WalkParams(sigmas, taus, temps, init_scale=scale, final_noise=False)


# The official configurations (paper.md section 6); "ladder" names rwbench.schedules builders.
PAPER_RUNS: dict[str, dict] = {
    "vp-uncond-pretrained": {"family": "vp", "ladder": "vp_pretrained", "K": 1000, "c": 0.4, "T0": 0.4},
    "vp-uncond-sigmoid": {"family": "vp", "ladder": "sigmoid", "K": 100, "c": 0.7, "T0": 0.1},
    "ve-uncond-geometric": {"family": "ve", "ladder": "geometric", "K": 1000, "c": 0.16, "T0": 0.4},
    "vp-inpaint-sigmoid": {"family": "vp", "ladder": "sigmoid", "K": 750, "c": 0.77683, "T0": 0.0, "eta": 0.2},
    "vp-sr4-sigmoid": {"family": "vp", "ladder": "sigmoid", "K": 750, "c": 0.15651, "T0": 0.0, "eta": 0.2},
    "ve-inpaint-geometric": {"family": "ve", "ladder": "geometric", "K": 1000, "c": 0.29487, "T0": 0.0, "eta": 0.2},
    "ve-sr4-geometric": {"family": "ve", "ladder": "geometric", "K": 1000, "c": 0.15651, "T0": 0.0, "eta": 0.2},
}
