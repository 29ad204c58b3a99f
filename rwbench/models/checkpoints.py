"""Load and write ADM / NCSN++ checkpoints in the published upstream layouts (torch.load with weights_only=True)."""

# * ADM (DPS `ffhq_10m.pt`): a flat state dict, loaded strictly.
# * NCSN++ (score_sde `checkpoint_48.pth`): {'model' ('module.'-prefixed keys and the `sigmas` buffer),
#   'ema' {'decay', 'num_updates', 'shadow_params' (unnamed list, requires_grad parameters in order)},
#   'optimizer', 'step'}. The EMA weights are the ones to sample with; `sigmas` is dropped on load.

from __future__ import annotations

import os
from pathlib import Path

import torch

from rwbench.io import atomic_path, load_tensors
from rwbench.nets.adm import ADMUNet, build_adm
from rwbench.nets.ncsnpp import NCSNpp, build_ncsnpp

PREFIX = "module."
RANDOM_NOISE_STD = 0.05


def read_checkpoint(path: str | os.PathLike, what: str = "checkpoint", source: str = "") -> object:
    """torch.load(path, map_location='cpu', weights_only=True) with one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        hint = f"; download it from {source}" if source else ""
        raise FileNotFoundError(f"{path}: {what} not found{hint} (or set RWBENCH_CHECKPOINTS to its folder)")
    remedy = f"download it again from {source}" if source else "replace it with the published file"
    return load_tensors(path, what, remedy)


def _check_keys(path, expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], what: str) -> None:
    """Raise one ValueError line if the key sets or shapes of two state dicts differ."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a {what} state dict: {len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]}); check the file and the config"
        )
    bad = [f"{k} {tuple(found[k].shape)} != {tuple(v.shape)}" for k, v in expected.items() if found[k].shape != v.shape]
    if bad:
        raise ValueError(f"{path}: {len(bad)} tensors of the wrong shape for a {what} (e.g. {bad[0]}); check the config")


def _finish(net: torch.nn.Module, device, dtype) -> torch.nn.Module:
    """Move to device/dtype and switch to eval mode."""
    return net.to(device=device, dtype=dtype).eval()


def load_adm(path, *, config="full", device="cpu", dtype=torch.float32, weights="ema") -> ADMUNet:
    """Build the ADM UNet and load a flat upstream state dict (DPS ffhq_10m.pt layout) strictly."""
    if weights != "ema":
        raise ValueError(f"weights: ffhq_10m.pt holds one set of (EMA) weights, use weights='ema', got {weights!r}")
    state = read_checkpoint(path, "ADM checkpoint", source=ADM_SOURCE)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a flat state dict (key -> tensor), got {type(state).__name__}")
    state = _strip_prefix(state)
    net = build_adm(config)
    _check_keys(path, net.state_dict(), state, f"ADM ({config})")
    net.load_state_dict(state, strict=True)
    return _finish(net, device, dtype)


def load_ncsnpp(path, *, config="full", device="cpu", dtype=torch.float32, weights="ema") -> NCSNpp:
    """Build NCSN++ and load a score_sde checkpoint: 'model' (prefix stripped, sigmas dropped), then the EMA list."""
    if weights not in ("ema", "raw"):
        raise ValueError(f"weights: need 'ema' (the sampling weights) or 'raw' (the training weights), got {weights!r}")
    ckpt = read_checkpoint(path, "NCSN++ checkpoint", source=NCSNPP_SOURCE)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path}: expected a score_sde checkpoint dict with 'model' and 'ema', got keys "
                         f"{sorted(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__}")
    state = _strip_prefix(ckpt["model"])
    state.pop("sigmas", None)  # the discrete VE levels; recomputed from the config, unused by the network
    net = build_ncsnpp(config)
    expected = {k: v for k, v in net.state_dict().items() if k != "sigmas"}
    _check_keys(path, expected, state, f"NCSN++ ({config})")
    net.load_state_dict(state, strict=False)
    if weights == "ema":
        ema = ckpt.get("ema")
        shadow = ema.get("shadow_params") if isinstance(ema, dict) else None
        if shadow is None:
            raise ValueError(f"{path}: no ema.shadow_params in the checkpoint; use weights='raw' to load the training weights")
        params = [p for p in net.parameters() if p.requires_grad]
        if len(shadow) != len(params):
            raise ValueError(f"{path}: ema.shadow_params has {len(shadow)} tensors, NCSN++ ({config}) has "
                             f"{len(params)} trainable parameters; check the config")
        with torch.no_grad():
            for i, (p, s) in enumerate(zip(params, shadow)):
                if p.shape != s.shape:
                    raise ValueError(f"{path}: ema.shadow_params[{i}] has shape {tuple(s.shape)}, expected {tuple(p.shape)}")
                p.copy_(s)
    return _finish(net, device, dtype)


def _strip_prefix(state: dict) -> dict:
    """Drop the DataParallel 'module.' prefix when every key carries it."""
    if state and all(k.startswith(PREFIX) for k in state):
        return {k[len(PREFIX):]: v for k, v in state.items()}
    return dict(state)


def randomize_(net: torch.nn.Module, seed: int = 0, std: float = RANDOM_NOISE_STD) -> torch.nn.Module:
    """Add std N(0, 1) noise from one seeded generator to every parameter in named_parameters() order (golden recipe)."""
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for _, p in net.named_parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype))
    return net


def random_net(kind: str, config="small", seed: int = 0) -> torch.nn.Module:
    """An ADM ('adm') or NCSN++ ('ncsnpp') net with seeded default init plus the golden N(0, 0.05^2) noise."""
    builders = {"adm": build_adm, "ncsnpp": build_ncsnpp}
    if kind not in builders:
        raise ValueError(f"kind: need 'adm' or 'ncsnpp', got {kind!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = builders[kind](config)
    return randomize_(net, seed + 20240601).eval()


def write_adm_checkpoint(net: ADMUNet, path) -> Path:
    """Write a flat state dict (the DPS ffhq_10m.pt layout), atomically."""
    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp)
    return Path(path)


def write_ncsnpp_checkpoint(net: NCSNpp, path, *, ema_params: list[torch.Tensor] | None = None, step: int = 0,
                            decay: float = 0.999) -> Path:
    """Write the score_sde layout {optimizer, model ('module.' keys + sigmas), ema {decay, num_updates, shadow_params}, step}."""
    trainable = [p for p in net.parameters() if p.requires_grad]
    shadow = [p.detach().cpu().clone() for p in trainable] if ema_params is None else [t.detach().cpu() for t in ema_params]
    if len(shadow) != len(trainable):
        raise ValueError(f"ema_params: need {len(trainable)} tensors (the trainable parameters), got {len(shadow)}")
    model = {PREFIX + k: v.detach().cpu() for k, v in net.state_dict().items()}
    optimizer = {"state": {}, "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                                                "amsgrad": False, "params": list(range(len(trainable)))}]}
    ckpt = {"optimizer": optimizer, "model": model,
            "ema": {"decay": decay, "num_updates": int(step), "shadow_params": shadow}, "step": int(step)}
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


ADM_SOURCE = ("the DPS repository (github.com/DPS2022/diffusion-posterior-sampling), README's Google-Drive link "
              "for the FFHQ model, file ffhq_10m.pt")
NCSNPP_SOURCE = ("the score_sde_pytorch Google Drive (github.com/yang-song/score_sde_pytorch README, "
                 "ve/ffhq_256_ncsnpp_continuous/checkpoint_48.pth)")
