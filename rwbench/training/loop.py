"""The training template L = E w(sigma) ||X - D(X + sigma N, sigma)||^2 (paper.md section 2) for VP, VE and IADB.

Objectives (one step draws everything from a generator seeded by (seed, model, step), so resuming is exact):
- vp:   t ~ U{0..T-1}, x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) z, loss ||eps(x_t, t) - z||^2 (DDPM "simple").
- ve:   sigma = s_min (s_max / s_min)^u, u ~ U(0, 1), loss ||sigma s(x0 + sigma z, sigma) + z||^2 (lambda = sigma^2);
        s_max = the largest pairwise Euclidean distance of training images (score-SDE, technique 1).
- iadb: x0 ~ N(0, I), x1 ~ data, a ~ U(0, 1), x_a = (1 - a) x0 + a x1, loss ||blend(x_a, a) - (x1 - x0)||^2.
The losses are fixed; `objective.parameterization` only chooses how the UNet F computes each native output:
eps / direct: the output is F itself (VE: s = -F(c_in x, log sigma) / sigma, c_in = 1 / sqrt(sigma_data^2 + sigma^2));
edm: the output is derived from EDM's preconditioned denoiser D = c_skip x + c_out F(c_in x) (Karras et al. 2022,
Table 1) in VE coordinates (vp_eps, ve_sigma_score, iadb_blend), which gives the network a unit-variance target at
every noise level and puts the near-identity part of eps / score / blend outside the network.
Outputs in --out (rwbench.training.state): model.safetensors (EMA weights) and config.json (full training config and
results), both written only when training has finished, and state.safetensors (raw weights, EMA, Adam moments, step)
for --resume. Intermediate checkpoints (every `checkpoint_every` steps, or a `stop_after` cut) write state.safetensors
and checkpoint.json only, so a killed or partial training never looks finished.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from rwbench.core import schedules
from rwbench.data import to_model_range
from rwbench.models.preconditioning import iadb_blend, ve_sigma_score, vp_eps
from rwbench.progress import Progress
from rwbench.training.state import Clock, lr_at, resume_or_start, save_checkpoint, step_generator, training_meta


def max_pairwise_distance(x: torch.Tensor) -> float:
    """max_{i,j} ||x_i - x_j||_2 over a set of images (score-SDE's choice of sigma_max)."""
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    return float(torch.cdist(flat, flat).max())


# ---------------------------------------------------------------- networks and losses


def build_net(cfg: dict):
    """The UNet of a resolved model config (channels from the dataset, cond_scale from the objective)."""
    from rwbench.nets.unet import UNet

    return UNet(in_channels=1, cond_scale=cfg["objective"]["cond_scale"], **cfg["net"])


def diffusion_loss(kind: str, net, x0: torch.Tensor, objective: dict, g: torch.Generator) -> torch.Tensor:
    """One minibatch of the kind's objective (module docstring), all randomness from `g`."""
    B = x0.shape[0]
    shape = (B,) + (1,) * (x0.dim() - 1)
    z = torch.randn(x0.shape, generator=g)
    if kind == "vp":
        abar = schedules.alphas_cumprod(schedules.linear_betas(objective["T"], objective["beta_min"],
                                                               objective["beta_max"])).float()
        t = torch.randint(0, objective["T"], (B,), generator=g)
        ab = abar[t].view(shape)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * z
        return F.mse_loss(vp_eps(net, xt, t.float(), objective), z)
    if kind == "ve":
        smin, smax = float(objective["sigma_min"]), float(objective["sigma_max"])
        u = torch.rand(B, generator=g)
        sigma = smin * (smax / smin) ** u
        out = ve_sigma_score(net, x0 + sigma.view(shape) * z, sigma, objective)
        return F.mse_loss(out, z)  # ||sigma s + z||^2 with s = -out / sigma
    if kind == "iadb":
        a = torch.rand(B, generator=g)
        xa = (1 - a.view(shape)) * z + a.view(shape) * x0
        return F.mse_loss(iadb_blend(net, xa, a, objective), x0 - z)
    raise ValueError(f"kind: unknown objective {kind!r}")


# ---------------------------------------------------------------- template loop


def train_diffusion(cfg: dict, data, out, *, resume: bool = False, progress: bool = True,
                    stop_after: int | None = None, clock: Clock | None = None) -> dict:
    """Train the diffusion model of a resolved config (vp | ve | iadb) on `data` (an ImageSet) into the existing
    folder `out`, from scratch or from its state; returns the written metadata (config.json at the last step)."""
    kind, tc, out, clock = cfg["kind"], cfg["train"], Path(out), clock or Clock()
    x_train = to_model_range(data.images, cfg["family"])
    if kind == "ve" and cfg["objective"]["sigma_max"] == "auto":
        cfg["objective"]["sigma_max"] = max_pairwise_distance(to_model_range(data.images, "ve"))
    torch.manual_seed(tc["seed"])
    net = build_net(cfg)
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
    opt = torch.optim.Adam(net.parameters(), lr=tc["lr"], betas=tuple(tc["adam_betas"]), fused=True)
    step = resume_or_start(out, cfg, net, ema, opt, resume)
    params = dict(net.named_parameters())
    ema_keys = [k for k in ema if k in params]  # buffers (none in this UNet) are not averaged
    ema_avg, ema_src = [ema[k] for k in ema_keys], [params[k].detach() for k in ema_keys]
    last = tc["steps"] if stop_after is None else min(tc["steps"], stop_after)
    bar = Progress(tc["steps"], f"train {kind}", enabled=progress, initial=step)
    loss_avg = None
    net.train()
    while step < last:
        g = step_generator(tc["seed"], kind, step)
        idx = torch.randint(0, len(x_train), (tc["batch_size"],), generator=g)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        loss = diffusion_loss(kind, net, x_train[idx], cfg["objective"], g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(net.parameters(), tc["grad_clip"])
        opt.step()
        decay = min(tc["ema_decay"], (1 + step) / (10 + step))  # EMA with the (1 + n) / (10 + n) warm-up
        with torch.no_grad():
            torch._foreach_lerp_(ema_avg, ema_src, 1.0 - decay)  # ema <- decay ema + (1 - decay) theta
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        bar.update(loss=f"{loss_avg:.4f}")
        if tc["checkpoint_every"] and step % tc["checkpoint_every"] == 0 and step < last:
            _checkpoint(out, cfg, net, ema, opt, step, loss_avg, clock)
    bar.close()
    return _checkpoint(out, cfg, net, ema, opt, step, loss_avg, clock)


def _checkpoint(out: Path, cfg: dict, net, ema: dict, opt, step: int, loss, clock: Clock) -> dict:
    from rwbench.nets.unet import count_parameters

    meta = training_meta(cfg, step, count_parameters(net), loss, clock)
    meta["net_config"] = net.config
    save_checkpoint(out, net, ema, opt, meta)
    return meta
