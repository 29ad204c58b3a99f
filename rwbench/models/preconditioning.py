"""How the embedded UNet F computes each native output (eps, score, blend): the plain parameterizations and EDM's
preconditioning D = c_skip x + c_out F(c_in x) (Karras et al. 2022, Table 1) in VE coordinates; shared by the
training losses (rwbench.training.loop) and inference (rwbench.models.embedded.native_function)."""

from __future__ import annotations

import torch

from rwbench.core import schedules


def ve_c_in(sigma: torch.Tensor, obj: dict) -> torch.Tensor:
    """Input scale of the VE score net: 1 / sqrt(sigma_data^2 + sigma^2), or 1 without input scaling."""
    if not obj.get("input_scaling", True):
        return torch.ones_like(sigma)
    return 1.0 / torch.sqrt(obj["sigma_data"] ** 2 + sigma * sigma)


def ve_sigma_score(net, x: torch.Tensor, sigma: torch.Tensor, obj: dict) -> torch.Tensor:
    """-sigma s(x, sigma) of the VE score net (sigma [B]); its regression target in the loss is the noise z.

    eps: net(c_in x, log sigma). edm: sigma c_in^2 x - sigma_data c_in net(c_in x, log sigma), i.e. the score of
    EDM's preconditioned denoiser D = c_skip x + c_out F (Karras et al. 2022, Table 1) via s = (D - x) / sigma^2.
    """
    shape = (-1,) + (1,) * (x.dim() - 1)
    c_in = ve_c_in(sigma, obj).view(shape)
    out = net(x * c_in, torch.log(sigma))
    kind = obj.get("parameterization", "eps")
    if kind == "eps":
        return out
    if kind == "edm":
        return sigma.view(shape) * c_in * c_in * x - obj["sigma_data"] * c_in * out
    raise ValueError(f"objective.parameterization: choose 'eps' or 'edm', got {kind!r}")


def vp_sigma(t: torch.Tensor, obj: dict) -> torch.Tensor:
    """sigma(t) of the objective's DDPM chain (rwbench.core.schedules.sigma_at, the VP adapter's map)."""
    levels = schedules.vp_sigmas(schedules.linear_betas(obj["T"], obj["beta_min"], obj["beta_max"])).to(t.device)
    return schedules.sigma_at(t, levels)


def vp_eps(net, x: torch.Tensor, t: torch.Tensor, obj: dict) -> torch.Tensor:
    """eps(x_t, t) of the VP net (t [B]).

    eps: net(x_t, t). edm: EDM's preconditioning (Karras et al. 2022) written for an eps output: with
    sigma = sigma(t), eps = sigma sqrt(1 + sigma^2) / (sigma^2 + sigma_data^2) x_t - sigma_data / sqrt(sigma^2 +
    sigma_data^2) net(c_in x_t, t), c_in = sqrt((1 + sigma^2) / (sigma^2 + sigma_data^2)) (= (x - D) / sigma with
    D = c_skip x + c_out F in VE coordinates x = x_t sqrt(1 + sigma^2)).
    """
    kind = obj.get("parameterization", "eps")
    if kind == "eps":
        return net(x, t)
    if kind != "edm":
        raise ValueError(f"objective.parameterization: choose 'eps' or 'edm', got {kind!r}")
    shape = (-1,) + (1,) * (x.dim() - 1)
    s = vp_sigma(t, obj)
    sd = float(obj["sigma_data"])
    norm = s * s + sd * sd
    skip = (s * torch.sqrt(1 + s * s) / norm).to(x.dtype).view(shape)
    c_in = torch.sqrt((1 + s * s) / norm).to(x.dtype).view(shape)
    c_out = (sd / torch.sqrt(norm)).to(x.dtype).view(shape)
    return skip * x - c_out * net(x * c_in, t)


def iadb_blend(net, xa: torch.Tensor, a: torch.Tensor, obj: dict) -> torch.Tensor:
    """blend(x_a, a) ~ E[x1 - x0 | x_a] of the IADB net (a [B]).

    direct: net(x_a, a). edm: EDM's preconditioning (Karras et al. 2022) in VE coordinates x = x_a / a, sigma =
    (1 - a) / a, through blend = (D - x_a) / (1 - a): with k = (1 - a)^2 + a^2 sigma_data^2,
    blend = (a sigma_data^2 - (1 - a)) / k x_a + sigma_data / sqrt(k) net(x_a / sqrt(k), a).
    """
    kind = obj.get("parameterization", "direct")
    if kind == "direct":
        return net(xa, a)
    if kind != "edm":
        raise ValueError(f"objective.parameterization: choose 'direct' or 'edm', got {kind!r}")
    shape = (-1,) + (1,) * (xa.dim() - 1)
    a64 = a.to(torch.float64)
    sd = float(obj["sigma_data"])
    k = (1 - a64) ** 2 + a64 * a64 * sd * sd
    skip = ((a64 * sd * sd - (1 - a64)) / k).to(xa.dtype).view(shape)
    c = torch.rsqrt(k).to(xa.dtype).view(shape)
    return skip * xa + sd * c * net(xa * c, a)
