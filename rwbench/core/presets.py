"""Table II: the classic samplers (DDPM, NCSN, VE-SDE, VP-SDE), the paper's simplified scheme, and Euler, Euler-ancestral
and DDIM (every eta) as walk parameters (docs/solvers.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rwbench.core import schedules
from rwbench.core.schedules import ancestral_step, check_sigmas, langevin_step_size, ncsn_initial_state
from rwbench.core.walk import check_walk_params

F64 = torch.float64


@dataclass(frozen=True)
class WalkParams:
    """Parameters of one random walk: levels, steps, temperatures, x_0 = init_scale * N(0, I), last-step noise.

    init="uniform" starts from U(0, 1) instead (the released NCSN code), as Phi(z) of the same normal draw z.
    """

    sigmas: torch.Tensor
    taus: torch.Tensor
    temperatures: torch.Tensor
    init_scale: float
    final_noise: bool
    init: str = "normal"

    def __post_init__(self):
        s, t, T = check_walk_params(self.sigmas, self.taus, self.temperatures)
        object.__setattr__(self, "sigmas", s)
        object.__setattr__(self, "taus", t)
        object.__setattr__(self, "temperatures", T)
        if not self.init_scale > 0:
            raise ValueError(f"init_scale: need a positive scale, got {self.init_scale}")
        if self.init not in ("normal", "uniform"):
            raise ValueError(f"init: choose 'normal' (init_scale N(0, I)) or 'uniform' (U(0, 1)), got {self.init!r}")

    def initial(self, z: torch.Tensor) -> torch.Tensor:
        """x_0 from a standard normal draw z: init_scale z, or Phi(z) ~ U(0, 1) for init="uniform"."""
        if self.init == "uniform":
            return ncsn_initial_state(z, self.init_scale, "released")
        return self.init_scale * z

    @property
    def K(self) -> int:
        """Number of iterations (= denoiser evaluations)."""
        return int(self.sigmas.numel())

    def walk_kwargs(self) -> dict:
        """Keyword arguments for rwbench.core.walk.random_walk."""
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
    sigmas = schedules.sigma_of_abar(abar)
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


def ncsn(levels, n_steps_each: int, eps: float, convention: str = "paper") -> WalkParams:
    """NCSN annealed Langevin (Song & Ermon 2019): tau = alpha_i / 2, T = 1, noise every step.

    convention="paper" (Alg. 1): tau = eps sigma_i^2 / (2 sigma_L^2), x_0 ~ N(0, sigma_1^2 I); "released"
    (ermongroup/ncsn's code): tau = eps (sigma_i / sigma_L)^2, twice Alg. 1's at the same eps, x_0 ~ U(0, 1).
    """
    levels = torch.as_tensor(levels, dtype=F64).reshape(-1)
    if int(n_steps_each) != n_steps_each or n_steps_each < 1:
        raise ValueError(f"n_steps_each: need a positive integer, got {n_steps_each!r}")
    if not eps > 0:
        raise ValueError(f"eps: need a positive step factor, got {eps}")
    sigmas = levels.repeat_interleave(int(n_steps_each))
    # tau = alpha / 2 with alpha = langevin_step_size(...) = eps sigma^2 / sigma_L^2 times 1 (paper) or 2 (released)
    half_alpha_factor = langevin_step_size(1.0, 1.0, 1.0, convention) / 2.0
    taus = eps * sigmas**2 * half_alpha_factor / levels[-1] ** 2
    temps = torch.ones_like(sigmas)
    init = "normal" if convention == "paper" else "uniform"
    scale = float(levels[0]) if convention == "paper" else 1.0
    return WalkParams(sigmas, taus, temps, init_scale=scale, final_noise=True, init=init)


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


def euler_ancestral(sigmas, eta: float = 1.0, s_noise: float = 1.0, init_scale: float | None = None) -> WalkParams:
    """Euler-ancestral (k-diffusion) as a walk: tau_k = sigma_k (sigma_k - sigma_down), T_k = s_noise^2 sigma_up^2 / (2 tau_k).

    `sigmas` is a solver ladder sigma_0 > ... > sigma_N (the last may be 0): the walk has N levels sigma_0..sigma_{N-1}.
    The walk step x + (tau/sigma^2)(D - x) + sqrt(2 tau T) n equals the solver's x + (sigma_down - sigma)(x - D)/sigma
    + s_noise sigma_up n when tau/sigma^2 = (sigma - sigma_down)/sigma and 2 tau T = s_noise^2 sigma_up^2. tau_k = 0
    only where sigma_{k+1} = sigma_k (then sigma_up = 0 too) and T_k = 0 wherever sigma_up = 0: eta = 0 (Euler), the
    last step to sigma = 0. The last step draws noise only when sigma_N > 0 (final_noise). x_0 = sigma_0 N(0, I)
    unless `init_scale` is given.
    """
    sig = check_sigmas(sigmas)
    if not s_noise >= 0:
        raise ValueError(f"s_noise: need s_noise >= 0, got {s_noise}")
    taus, temps = [], []
    for k in range(len(sig) - 1):
        sigma_down, sigma_up = ancestral_step(sig[k], sig[k + 1], eta)
        tau = sig[k] * (sig[k] - sigma_down)
        taus.append(tau)
        temps.append((s_noise * sigma_up) ** 2 / (2.0 * tau) if tau > 0 and sigma_up > 0 else 0.0)
    scale = float(sig[0]) if init_scale is None else float(init_scale)
    return WalkParams(torch.tensor(sig[:-1], dtype=F64), torch.tensor(taus, dtype=F64), torch.tensor(temps, dtype=F64),
                      init_scale=scale, final_noise=sig[-1] > 0)


def euler(sigmas, init_scale: float | None = None) -> WalkParams:
    """Euler's PF-ODE solver as a walk: euler_ancestral with eta = 0 (tau_k = sigma_k (sigma_k - sigma_{k+1}), T_k = 0)."""
    return euler_ancestral(sigmas, 0.0, init_scale=init_scale)


def ddim(betas: torch.Tensor, eta: float = 0.0) -> WalkParams:
    """DDIM(eta) on a (respaced) DDPM chain as a walk: Euler-ancestral(eta) on its VE levels sigma_t, then 0.

    In VE coordinates x = x_VP / sqrt(abar_t), DDIM's sigma_t(eta)^2 / abar_{t-1} equals the ancestral sigma_up^2
    between sigma_t and sigma_{t-1} (and 1 - abar_{t-1} - sigma_t(eta)^2 matches sigma_down^2 abar_{t-1}), abar_{-1} = 1
    gives the final level 0; x_0 = x_T / sqrt(abar_{T-1}) as for DDPM.
    """
    abar = schedules.alphas_cumprod(torch.as_tensor(betas, dtype=F64))
    sig = schedules.sigma_of_abar(abar).flip(0)  # walk order: t = T-1 .. 0
    ladder = torch.cat([sig, torch.zeros(1, dtype=F64)])
    return euler_ancestral(ladder, eta, init_scale=float(1.0 / abar[-1].sqrt()))


# The official configurations (paper.md section 6); "ladder" names rwbench.core.schedules builders.
PAPER_RUNS: dict[str, dict] = {
    "vp-uncond-pretrained": {"family": "vp", "ladder": "vp_pretrained", "K": 1000, "c": 0.4, "T0": 0.4},
    "vp-uncond-sigmoid": {"family": "vp", "ladder": "sigmoid", "K": 100, "c": 0.7, "T0": 0.1},
    "ve-uncond-geometric": {"family": "ve", "ladder": "geometric", "K": 1000, "c": 0.16, "T0": 0.4},
    "vp-inpaint-sigmoid": {"family": "vp", "ladder": "sigmoid", "K": 750, "c": 0.77683, "T0": 0.0, "eta": 0.2},
    "vp-sr4-sigmoid": {"family": "vp", "ladder": "sigmoid", "K": 750, "c": 0.15651, "T0": 0.0, "eta": 0.2},
    "ve-inpaint-geometric": {"family": "ve", "ladder": "geometric", "K": 1000, "c": 0.29487, "T0": 0.0, "eta": 0.2},
    "ve-sr4-geometric": {"family": "ve", "ladder": "geometric", "K": 1000, "c": 0.15651, "T0": 0.0, "eta": 0.2},
}
