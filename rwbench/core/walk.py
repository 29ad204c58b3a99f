"""The random-walk template of eq. 11 (unconditional) and eq. 22 (with an exact likelihood gradient)."""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from rwbench.core.rng import step_noise

F64 = torch.float64


def check_walk_params(sigmas, taus, temperatures) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate (sigma_k, tau_k, T_k) and return them as float64 CPU tensors; ValueError names the bad argument."""
    sigmas = torch.as_tensor(sigmas, dtype=F64).detach().cpu().reshape(-1)
    taus = torch.as_tensor(taus, dtype=F64).detach().cpu().reshape(-1)
    temperatures = torch.as_tensor(temperatures, dtype=F64).detach().cpu().reshape(-1)
    K = sigmas.numel()
    if K == 0:
        raise ValueError("sigmas: need at least one noise level")
    if taus.numel() != K:
        raise ValueError(f"taus: need one step size per noise level ({K}), got {taus.numel()}")
    if temperatures.numel() != K:
        raise ValueError(f"temperatures: need one temperature per noise level ({K}), got {temperatures.numel()}")
    for name, v in (("sigmas", sigmas), ("taus", taus), ("temperatures", temperatures)):
        if not torch.all(torch.isfinite(v)):
            raise ValueError(f"{name}: all values must be finite")
    if torch.any(sigmas <= 0):
        raise ValueError(f"sigmas: every noise level must be > 0 (min is {sigmas.min().item():g})")
    if K > 1 and torch.any(sigmas[1:] > sigmas[:-1]):
        k = int(torch.nonzero(sigmas[1:] > sigmas[:-1])[0])
        raise ValueError(f"sigmas: the ladder must not increase (sigma[{k + 1}]={sigmas[k + 1].item():g} > sigma[{k}]={sigmas[k].item():g})")
    if torch.any(taus < 0):
        raise ValueError(f"taus: step sizes must be >= 0 (min is {taus.min().item():g})")
    if torch.any(temperatures < 0):
        raise ValueError(f"temperatures: must be >= 0 (min is {temperatures.min().item():g})")
    return sigmas, taus, temperatures


def random_walk(
    denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    sigmas,
    taus,
    temperatures,
    *,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    likelihood_grad: Callable[[torch.Tensor], torch.Tensor] | None = None,
    final_noise: bool = False,
    callback: Callable[[dict], None] | None = None,
) -> torch.Tensor:
    """x_{k+1} = x_k + (tau_k/sigma_k^2)(D(x_k, sigma_k) - x_k) [+ tau_k grad log f(y|x_k)] + sqrt(2 tau_k T_k) n_k (eqs. 11, 22).

    `noise` [K, *x.shape] gives n_k explicitly; otherwise `generator` is one torch.Generator per
    image (a list of len B; image i then never depends on its batch) or a single generator for the
    whole batch. `final_noise=False` omits (and does not draw) the noise of the last iteration. `callback` gets
    after each step k, x (= x_k), x_next, sigma (= sigma_k), x_sigma (sigma_{k-1}, the level at which x_k was produced;
    sigma_0 for x_0) and denoised (= D(x_k, sigma_k)).
    """
    sigmas, taus, temperatures = check_walk_params(sigmas, taus, temperatures)
    K = sigmas.numel()
    if noise is not None and tuple(noise.shape) != (K, *x.shape):
        raise ValueError(f"noise: need shape {(K, *tuple(x.shape))}, got {tuple(noise.shape)}")
    if isinstance(generator, (list, tuple)) and len(generator) != x.shape[0]:
        raise ValueError(f"generator: need one generator per image ({x.shape[0]}), got {len(generator)}")
    drift_w = (taus / sigmas**2).tolist()
    noise_w = torch.sqrt(2.0 * taus * temperatures).tolist()
    tau_list = taus.tolist()
    for k in range(K):
        sigma = sigmas[k]
        denoised = denoiser(x, sigma)
        step = drift_w[k] * (denoised - x)
        if likelihood_grad is not None:
            step = step + tau_list[k] * likelihood_grad(x)
        x_next = x + step
        if (final_noise or k < K - 1) and noise_w[k] != 0.0:
            n_k = step_noise(noise, k, x, generator)
            x_next = x_next + noise_w[k] * n_k
        if callback is not None:
            # sigma: the level of this step (D's); x_sigma: the level of the step that produced x (sigma_0 for x_0)
            callback({"k": k, "x": x, "x_next": x_next, "sigma": sigma, "x_sigma": sigmas[max(k - 1, 0)],
                      "denoised": denoised})
        x = x_next
    return x


__all__ = ["random_walk", "check_walk_params"]
