"""Registry entries for the paper's pretrained FFHQ-256 models (paper.md section 8) and random stand-in checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from rwbench.core import schedules
from rwbench.models.denoisers import VEScoreDenoiser, VPEpsDenoiser
from rwbench.plan.inputs import CHECKPOINT_ENV, default_checkpoint
from rwbench.models import checkpoints as ckpt
from rwbench.models.registry import register_model

SOURCES = {"ffhq-vp-adm": ckpt.ADM_SOURCE, "ffhq-ve-ncsnpp": ckpt.NCSNPP_SOURCE}
KINDS = {"ffhq-vp-adm": "adm", "ffhq-ve-ncsnpp": "ncsnpp"}


def _resolve(name: str, checkpoint) -> Path:
    path = default_checkpoint(name) if checkpoint is None else Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint for {name} not found; download it from {SOURCES[name]} "
                                f"and place it there (or set {CHECKPOINT_ENV})")
    return path


def _frozen(net: torch.nn.Module) -> torch.nn.Module:
    """Inference copy: eval mode, no parameter gradients (inputs can still carry gradients, e.g. for DPS)."""
    return net.eval().requires_grad_(False)


@register_model("ffhq-vp-adm", family="vp", data_range=(-1, 1),
                description="DPS FFHQ-256 ADM eps-network (ffhq_10m.pt), linear betas 1e-4..0.02, T=1000")
def load_ffhq_vp_adm(checkpoint=None, *, device="cpu", dtype=torch.float32, weights="ema", config="full"):
    """VP denoiser D(x, sigma) = x - sigma eps(sqrt(abar) x, t(sigma)) around the ADM UNet (eps = channels 0:3)."""
    net = _frozen(ckpt.load_adm(_resolve("ffhq-vp-adm", checkpoint), config=config, device=device, dtype=dtype,
                                weights=weights))

    def eps_fn(x_vp: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return net(x_vp, t)[:, :3]

    denoiser = VPEpsDenoiser(eps_fn, schedules.alphas_cumprod(schedules.linear_betas()))
    denoiser.net = net
    return denoiser


@register_model("ffhq-ve-ncsnpp", family="ve", data_range=(0, 1),
                description="score_sde FFHQ-256 NCSN++ continuous VE (checkpoint_48.pth, EMA weights), sigma 0.01..348")
def load_ffhq_ve_ncsnpp(checkpoint=None, *, device="cpu", dtype=torch.float32, weights="ema", config="full"):
    """VE denoiser D(x, sigma) = x + sigma^2 s(x, sigma) around the NCSN++ score network."""
    net = _frozen(ckpt.load_ncsnpp(_resolve("ffhq-ve-ncsnpp", checkpoint), config=config, device=device, dtype=dtype,
                                   weights=weights))

    def score_fn(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return net(x, sigma)

    denoiser = VEScoreDenoiser(score_fn)
    denoiser.net = net
    return denoiser


def write_random_checkpoint(name: str, path, config: str = "small", seed: int = 0) -> Path:
    """Write seeded random weights for a registered FFHQ model in its exact upstream file layout."""
    if name not in KINDS:
        raise ValueError(f"name: random checkpoints exist for {', '.join(KINDS)}, got {name!r}")
    net = ckpt.random_net(KINDS[name], config=config, seed=seed)
    if KINDS[name] == "adm":
        return ckpt.write_adm_checkpoint(net, path)
    # EMA = the seeded weights; the raw training weights differ from them, so loading the wrong set shows.
    trainable = [p for p in net.parameters() if p.requires_grad]
    shadow = [p.detach().clone() for p in trainable]
    g = torch.Generator().manual_seed(int(seed) + 1)
    with torch.no_grad():
        for p in trainable:
            p.add_(0.01 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return ckpt.write_ncsnpp_checkpoint(net, path, ema_params=shadow, step=1)
