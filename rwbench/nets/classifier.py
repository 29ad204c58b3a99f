"""Small CNN digits classifier whose normalised penultimate features serve as the digits FID/KID/PR feature space.

Feature normalisation (docs/metrics.md), fitted once on the classifier's training split after training and saved
with the weights (buffers feature_live, feature_shift, feature_scale, so the weights' sha256 changes with them):
  embedding(x) = (relu(fc(body(x))) - shift)[live] / scale
live = units that fire (> 0) on at least one training image and vary over it (dead ReLU units dropped);
shift = their training mean; scale = sqrt(mean over live units of the training variance), one scalar, so that
E ||e||^2 / D = 1 on the training split: KID's kernel (x.y/D + 1)^3 sees order-one values, and FID is the raw
Frechet distance of the live units divided by scale^2 (an isotropic change of units, no whitening).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class DigitsClassifier(nn.Module):
    """conv-conv-pool-conv-conv-pool-avgpool(4) -> fc (features, ReLU) -> fc (10 logits); input [B, 1, H, W] in [0, 1]."""

    def __init__(self, width: int = 32, feature_dim: int = 128, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.config = dict(width=width, feature_dim=feature_dim, num_classes=num_classes, in_channels=in_channels)
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )
        self.fc = nn.Linear(2 * w * 16, feature_dim)
        self.out = nn.Linear(feature_dim, num_classes)
        # identity normalisation until calibrate_features() fits it on the training split
        self.register_buffer("feature_live", torch.ones(feature_dim, dtype=torch.bool))
        self.register_buffer("feature_shift", torch.zeros(feature_dim))
        self.register_buffer("feature_scale", torch.ones(()))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features relu(fc(body(x))), [B, feature_dim]."""
        if x.dim() != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"x: need [B, {self.config['in_channels']}, H, W] floats in [0, 1], got {tuple(x.shape)}")
        return F.relu(self.fc(self.body(x.to(self.fc.weight.dtype))))

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised features (features(x) - shift)[:, live] / scale, [B, live units]: the FID/KID feature space."""
        feats = self.features(x)
        return ((feats - self.feature_shift.to(feats.dtype)) / self.feature_scale.to(feats.dtype))[:, self.feature_live]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


@torch.no_grad()
def calibrate_features(net: DigitsClassifier, images: torch.Tensor, batch_size: int = 512) -> dict:
    """Fit the feature normalisation on training images [N, 1, H, W] in [0, 1] (float64 moments); returns a summary."""
    if images.dim() != 4 or len(images) < 2:
        raise ValueError(f"images: need the training split as [N >= 2, 1, H, W] floats, got {tuple(images.shape)}")
    feats = torch.cat([net.features(images[i:i + batch_size]).double() for i in range(0, len(images), batch_size)])
    var = feats.var(dim=0, unbiased=True)
    live = (feats.amax(dim=0) > 0) & (var > 1e-12 * float(var.max().clamp(min=1e-300)))
    if int(live.sum()) < 2:
        raise ValueError(f"calibrate_features: only {int(live.sum())} units fire on the training split; train longer")
    shift = feats.mean(dim=0)
    scale = var[live].mean().sqrt()
    net.feature_live.copy_(live)
    net.feature_shift.copy_(torch.where(live, shift, torch.zeros_like(shift)).to(net.feature_shift.dtype))
    net.feature_scale.copy_(scale.to(net.feature_scale.dtype))
    centred = (feats[:, live] - shift[live]) / scale
    eig = torch.linalg.eigvalsh(torch.cov(centred.T)).clamp(min=0)
    return {"live_units": int(live.sum()), "dead_units": int((~live).sum()), "scale": float(scale),
            "effective_rank": float(eig.sum() ** 2 / (eig * eig).sum()), "n_calibration": int(len(images))}


def _config_path(path: Path) -> Path:
    for cand in (path.with_suffix(".json"), path.parent / "config.json"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{path}: no JSON config next to the weights (looked for {path.with_suffix('.json').name} "
                            f"and config.json); train one with `rwbench train --model classifier`")


def load_classifier(path, device="cpu") -> DigitsClassifier:
    """Load a classifier in eval mode from a directory (model.safetensors + config.json) or a safetensors file."""
    from rwbench.io import load_safetensors, load_state_checked

    path = Path(path)
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: digits classifier weights missing; train them with "
                                f"`rwbench train --model classifier --out DIR`")
    meta = json.loads(_config_path(weights).read_text())
    net = DigitsClassifier(**meta["net"])
    state = load_safetensors(weights, "digits classifier checkpoint",
                             "delete it and retrain it (snakemake, or rwbench train --model classifier)")
    missing = [k for k in ("feature_live", "feature_shift", "feature_scale") if k not in state]
    if missing:
        raise ValueError(f"{weights}: classifier without the feature normalisation ({', '.join(missing)}; it predates "
                         f"it); retrain it: rm -r {weights.parent} and `rwbench train --model classifier`")
    load_state_checked(net, state, weights, "not a digits classifier of this config.json; delete it and retrain it "
                       "(snakemake, or rwbench train --model classifier)")
    net.test_accuracy = meta.get("test_accuracy")
    return net.to(device).eval().requires_grad_(False)
