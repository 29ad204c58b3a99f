"""LPIPS (Zhang et al. 2018) through the lpips package, with its ImageNet backbone from the torch hub cache."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import torch

from rwbench.io import file_sha256
from rwbench.metrics.extractors import HASH_IN_NAME, hub_checkpoint

BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth", "squeeze": "squeezenet1_1-b8a52dc0.pth"}
MIN_SIDE = 64


def backbone_path(net: str = "alex", allow_download: bool = False) -> Path:
    """Hub-cache path of LPIPS's backbone weights; one-line FileNotFoundError when absent (and not downloadable)."""
    if net not in BACKBONE_FILES:
        raise ValueError(f"--lpips-net {net!r}: choose one of {', '.join(BACKBONE_FILES)}")
    path = hub_checkpoint(BACKBONE_FILES[net])
    if not path.is_file() and not allow_download:
        raise FileNotFoundError(f"LPIPS backbone weights not found at {path} ($TORCH_HOME/hub/checkpoints/"
                                f"{BACKBONE_FILES[net]}); put the file there or turn LPIPS off with --no-lpips")
    return path


def _download(net: str, path: Path) -> None:
    """Fetch torchvision's published backbone to `path` (hash prefix checked on download; nothing unpickled)."""
    from torchvision import models

    weights = {"alex": models.AlexNet_Weights, "vgg": models.VGG16_Weights,
               "squeeze": models.SqueezeNet1_1_Weights}[net].IMAGENET1K_V1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weights.url, str(path), HASH_IN_NAME.search(path.name).group(1),
                                       progress=False)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        raise FileNotFoundError(f"LPIPS backbone weights could not be downloaded to {path} ({type(err).__name__}); "
                                f"put {BACKBONE_FILES[net]} there or turn LPIPS off with --no-lpips") from err


def linear_layers_path(net: str = "alex") -> Path:
    """The lpips package's calibrated linear layers for `net` (lpips/weights/v0.1/<net>.pth)."""
    import lpips

    return Path(lpips.__file__).resolve().parent / "weights" / "v0.1" / f"{net}.pth"


def _load_into(module: torch.nn.Module, state: dict, path: Path, rename) -> None:
    """Copy `state[rename(key)]` into every parameter and buffer of `module`; one line naming file and key if not."""
    from rwbench.errors import UserError

    picked = {}
    for key, target in module.state_dict().items():
        source = rename(key)
        if source not in state:
            raise UserError(f"{path}: key {source!r} missing; not the published weights, put the genuine file there")
        if tuple(state[source].shape) != tuple(target.shape):
            raise UserError(f"{path}: key {source!r} has shape {tuple(state[source].shape)}, expected "
                            f"{tuple(target.shape)}; not the published weights, put the genuine file there")
        picked[key] = state[source]
    module.load_state_dict(picked, strict=True)


def build_lpips(net: str = "alex", backbone: str | os.PathLike | None = None,
                linear: str | os.PathLike | None = None) -> torch.nn.Module:
    """lpips.LPIPS(net, version 0.1) whose weights rwbench loads itself (hash prefix, then weights_only=True).

    lpips and torchvision would unpickle the backbone with weights_only=False; here lpips builds the networks
    untrained (pnet_rand=True, pretrained=False), then the backbone's `features.<i>.*` tensors go into the
    slices `net.slice<k>.<i>.*` and the linear layers' `lin<l>.*` tensors into `lin<l>.*`. `backbone=None` is the
    torch hub cache file (backbone_path), `linear=None` the lpips package's file (linear_layers_path).
    """
    import warnings

    import lpips

    from rwbench.metrics.extractors import load_weights

    backbone = Path(backbone) if backbone is not None else backbone_path(net)
    linear = Path(linear) if linear is not None else linear_layers_path(net)
    backbone_state = load_weights(backbone, f"LPIPS {net} backbone weights", BACKBONE_FILES[net])
    linear_state = load_weights(linear, f"LPIPS {net} linear layers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's "pretrained is deprecated"
        model = lpips.LPIPS(net=net, version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    _load_into(model.net, backbone_state, backbone, lambda key: "features." + key.split(".", 1)[1])
    _load_into(model.lins, linear_state, linear, lambda key: f"lin{key}")
    return model


class LPIPSMetric:
    """LPIPS distance d(x, y) = sum_l mean_hw ||w_l * (phi_l(x) - phi_l(y))||^2 (lpips.LPIPS, version 0.1)."""

    def __init__(self, net: str = "alex", device: str = "cpu", allow_download: bool = False,
                 min_side: int = MIN_SIDE, backbone: str | os.PathLike | None = None):
        """`backbone`: a weights file of the user's own (read with weights_only=True); default the hub cache's."""
        path = Path(backbone) if backbone is not None else backbone_path(net, allow_download)
        if not path.is_file():
            if backbone is not None:
                raise FileNotFoundError(f"{path}: LPIPS backbone weights not found")
            _download(net, path)
        self.model = build_lpips(net, path).to(device).eval()
        self.model.requires_grad_(False)
        self.net, self.device, self.min_side = net, device, int(min_side)
        self.backbone_sha256 = file_sha256(path)

    def label(self) -> str:
        """Value of the extractor column: lpips-<version>/<net>@<backbone sha256[:12]>."""
        import lpips

        return f"lpips-{getattr(lpips, '__version__', '0.1.4')}-v0.1/{self.net}@{self.backbone_sha256[:12]}"

    def conversion(self, height: int, width: int) -> str:
        """How [0, 1] images are fed to the network (channel replication, resize, scaling)."""
        parts = ["float clip[0,1] -> [-1,1]", "gray->rgb replicate if 1ch"]
        if min(height, width) < self.min_side:
            parts.append(f"bilinear upsample to side {self.min_side}")
        return "; ".join(parts)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Per-image LPIPS of x against y, both float [N, C, H, W] on [0, 1] (x is clipped)."""
        if x.shape != y.shape or x.dim() != 4:
            raise ValueError(f"lpips: need matching [N, C, H, W] shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
        out = []
        for start in range(0, len(x), batch_size):
            a = self._prepare(x[start:start + batch_size])
            b = self._prepare(y[start:start + batch_size])
            out.append(self.model(a, b).flatten().double().cpu())
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32).clamp(0, 1)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"lpips: need 1 or 3 channels, got {x.shape[1]}")
        height, width = x.shape[-2:]
        if min(height, width) < self.min_side:
            scale = self.min_side / min(height, width)
            size = (round(height * scale), round(width * scale))
            x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x * 2 - 1
