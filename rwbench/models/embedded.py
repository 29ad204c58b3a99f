"""Registry entries of the embedded default: digits-vp / digits-ve / digits-iadb UNets and the digits / faces oracles.

Every loader is `loader(checkpoint_dir=None, *, device="cpu", dtype=torch.float32)` and returns a Denoiser in VE
coordinates. The learned ones are the core adapters and keep their native function on the returned object:
digits-vp -> VPEpsDenoiser (.eps_fn(x_vp, t), .alphas_cumprod, .betas), digits-ve -> VEScoreDenoiser
(.score_fn(x, sigma), .sigma_min, .sigma_max), digits-iadb -> IADBDenoiser (.blend_fn(x_a, a)); all carry .net
and .config (the training config.json). Default folders: $RWBENCH_EMBEDDED_DIR (else results/embedded) / vp, ve,
iadb, oracle. Data ranges: VP and IADB [-1, 1] (IADB as in Heitz et al.'s code: data unit-scale like its N(0, I)
source), VE and the oracles [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from rwbench.core import schedules
from rwbench.models.denoisers import GaussianMixtureDenoiser, IADBDenoiser, VEScoreDenoiser, VPEpsDenoiser
from rwbench.models.preconditioning import iadb_blend, ve_sigma_score, vp_eps
from rwbench.models.oracle import oracle_file
from rwbench.models.registry import register_model

EMBEDDED_ENV = "RWBENCH_EMBEDDED_DIR"


def embedded_dir() -> Path:
    """Root of the embedded artefacts: $RWBENCH_EMBEDDED_DIR, default results/embedded."""
    return Path(os.environ.get(EMBEDDED_ENV) or "results/embedded")


def _folder(checkpoint_dir, sub: str) -> Path:
    return Path(checkpoint_dir) if checkpoint_dir is not None else embedded_dir() / sub


def native_function(kind: str, net, objective: dict):
    """The model's native function: VP eps_fn(x_vp, t), VE score_fn(x, sigma), IADB blend_fn(x_a, a); inputs [B] conds."""
    dtype = next(net.parameters()).dtype

    def _cond(c, x):
        c = torch.as_tensor(c, device=x.device).reshape(-1)
        return c.expand(x.shape[0]) if c.numel() == 1 else c

    if kind == "vp":
        def eps_fn(x, t):
            return vp_eps(net, x.to(dtype), _cond(t, x).to(dtype), objective).to(x.dtype)
        return eps_fn
    if kind == "ve":
        def score_fn(x, sigma):
            s = _cond(sigma, x).to(torch.float64)
            out = ve_sigma_score(net, x.to(dtype), s.to(dtype), objective)
            return (-out.to(torch.float64) / s.view(-1, 1, 1, 1)).to(x.dtype)
        return score_fn
    if kind == "iadb":
        def blend_fn(xa, a):
            return iadb_blend(net, xa.to(dtype), _cond(a, xa).to(dtype), objective).to(xa.dtype)
        return blend_fn
    raise ValueError(f"kind: no native function for {kind!r}")


def load_trained_net(checkpoint_dir, kind: str, device="cpu", dtype=torch.float32):
    """(net in eval mode with EMA weights, training config) from a `rwbench train` output folder."""
    from rwbench.errors import UserError, first_line
    from rwbench.io import load_safetensors, load_state_checked, read_json
    from rwbench.nets.unet import UNet

    folder = Path(checkpoint_dir)
    weights, meta_path = folder / "model.safetensors", folder / "config.json"
    if not weights.is_file() or not meta_path.is_file():
        raise FileNotFoundError(f"{folder}: no trained digits-{kind} model (model.safetensors + config.json); run "
                                f"`rwbench train --config config/embedded-default.yaml --model {kind} --out {folder}`")
    remedy = f"delete {folder} and retrain it (snakemake, or rwbench train --model {kind})"
    meta = read_json(meta_path, remedy)
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind") if isinstance(meta, dict) else None
        raise ValueError(f"{meta_path}: holds a {found!r} model, expected {kind!r}")
    try:
        net = UNet(**meta["net_config"])
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{meta_path}: key net_config is missing or wrong ({type(err).__name__}: {first_line(err)}); "
                        f"{remedy}") from err
    load_state_checked(net, load_safetensors(weights, f"digits-{kind} checkpoint", remedy), weights,
                       f"not the weights of the net in {meta_path.name}; {remedy}")
    return net.to(device=device, dtype=dtype).eval().requires_grad_(False), meta


def _attach(denoiser, net, meta):
    denoiser.net = net
    denoiser.config = meta
    return denoiser


@register_model("digits-vp", family="vp", data_range=(-1, 1),
                description="embedded UNet eps-network on 16x16 digits, linear betas 1e-4..0.02, T=1000")
def load_digits_vp(checkpoint_dir=None, *, device="cpu", dtype=torch.float32):
    """VP denoiser D(x, sigma) = x - sigma eps(sqrt(abar) x, t(sigma)) around the trained embedded UNet."""
    net, meta = load_trained_net(_folder(checkpoint_dir, "vp"), "vp", device, dtype)
    obj = meta["objective"]
    betas = schedules.linear_betas(obj["T"], obj["beta_min"], obj["beta_max"])
    den = VPEpsDenoiser(native_function("vp", net, obj), schedules.alphas_cumprod(betas))
    den.betas = betas
    return _attach(den, net, meta)


@register_model("digits-ve", family="ve", data_range=(0, 1),
                description="embedded UNet score network on 16x16 digits, sigma log-uniform, s_max = max pair distance")
def load_digits_ve(checkpoint_dir=None, *, device="cpu", dtype=torch.float32):
    """VE denoiser D(x, sigma) = x + sigma^2 s(x, sigma) around the trained embedded score UNet."""
    net, meta = load_trained_net(_folder(checkpoint_dir, "ve"), "ve", device, dtype)
    den = VEScoreDenoiser(native_function("ve", net, meta["objective"]))
    den.sigma_min, den.sigma_max = float(meta["objective"]["sigma_min"]), float(meta["objective"]["sigma_max"])
    return _attach(den, net, meta)


@register_model("digits-iadb", family="iadb", data_range=(-1, 1),
                description="embedded UNet IADB blend network D(x_a, a) ~ E[x1 - x0 | x_a] on 16x16 digits")
def load_digits_iadb(checkpoint_dir=None, *, device="cpu", dtype=torch.float32):
    """IADB bridge denoiser D = x_a + (1 - a) blend(x_a, a), a = 1/(1 + sigma), around the trained blend UNet."""
    net, meta = load_trained_net(_folder(checkpoint_dir, "iadb"), "iadb", device, dtype)
    return _attach(IADBDenoiser(native_function("iadb", net, meta["objective"])), net, meta)


def load_oracle(dataset: str, checkpoint_dir=None, device="cpu") -> GaussianMixtureDenoiser:
    """The fitted Gaussian mixture of `dataset` from a `rwbench prepare` folder (float64, exact)."""
    oracle = GaussianMixtureDenoiser.load(oracle_file(_folder(checkpoint_dir, "oracle"), dataset))
    if str(device) != "cpu":
        for name in ("weights", "log_weights", "means", "covs", "eigvals", "eigvecs"):
            setattr(oracle, name, getattr(oracle, name).to(device))
    return oracle


@register_model("digits-oracle", family="oracle", data_range=(0, 1),
                description="exact Gaussian-mixture denoiser fitted to the digits train split (rwbench prepare)")
def load_digits_oracle(checkpoint_dir=None, *, device="cpu", dtype=torch.float64):
    """Exact MMSE denoiser of the digits Gaussian mixture (computes in float64, returns x's dtype)."""
    return load_oracle("digits", checkpoint_dir, device)


@register_model("faces-oracle", family="oracle", data_range=(0, 1),
                description="exact Gaussian-mixture denoiser fitted to the 100 LFW-subset faces (rwbench prepare)")
def load_faces_oracle(checkpoint_dir=None, *, device="cpu", dtype=torch.float64):
    """Exact MMSE denoiser of the faces Gaussian mixture (computes in float64, returns x's dtype)."""
    return load_oracle("faces", checkpoint_dir, device)
