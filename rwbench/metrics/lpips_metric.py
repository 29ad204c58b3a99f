"""LPIPS (Zhang et al. 2018) through the lpips package, with its ImageNet backbone from the torch hub cache."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import torch

from rwbench.io import file_sha256
from rwbench.metrics.extractors import hub_checkpoint

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


class LPIPSMetric:
    """LPIPS distance d(x, y) = sum_l mean_hw ||w_l * (phi_l(x) - phi_l(y))||^2 (lpips.LPIPS, version 0.1)."""

    def __init__(self, net: str = "alex", device: str = "cpu", allow_download: bool = False,
                 min_side: int = MIN_SIDE):
        import warnings

        import lpips

        path = backbone_path(net, allow_download)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # torchvision's "pretrained is deprecated"
                self.model = lpips.LPIPS(net=net, version="0.1", verbose=False).to(device).eval()
        except (urllib.error.URLError, OSError, RuntimeError) as err:
            raise FileNotFoundError(f"LPIPS backbone weights could not be loaded from {path} ({type(err).__name__}); "
                                    f"put {BACKBONE_FILES[net]} there or turn LPIPS off with --no-lpips") from err
        self.model.requires_grad_(False)
        self.net, self.device, self.min_side = net, device, int(min_side)
        self.backbone_sha256 = file_sha256(path) if path.is_file() else "unknown"

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
