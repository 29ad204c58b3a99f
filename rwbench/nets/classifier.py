"""Small CNN digits classifier whose penultimate features serve as the digits FID/KID/PR feature space."""

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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features relu(fc(body(x))), [B, feature_dim]."""
        if x.dim() != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"x: need [B, {self.config['in_channels']}, H, W] floats in [0, 1], got {tuple(x.shape)}")
        return F.relu(self.fc(self.body(x.to(self.fc.weight.dtype))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


def _config_path(path: Path) -> Path:
    for cand in (path.with_suffix(".json"), path.parent / "config.json"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{path}: no JSON config next to the weights (looked for {path.with_suffix('.json').name} "
                            f"and config.json); train one with `rwbench train --model classifier`")


def load_classifier(path, device="cpu") -> DigitsClassifier:
    """Load a classifier in eval mode from a directory (model.safetensors + config.json) or a safetensors file."""
    from rwbench.io import load_safetensors

    path = Path(path)
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: digits classifier weights missing; train them with "
                                f"`rwbench train --model classifier --out DIR`")
    meta = json.loads(_config_path(weights).read_text())
    net = DigitsClassifier(**meta["net"])
    net.load_state_dict(load_safetensors(weights, "digits classifier checkpoint",
                                         "delete it and retrain it (snakemake, or rwbench train --model classifier)"))
    net.test_accuracy = meta.get("test_accuracy")
    return net.to(device).eval().requires_grad_(False)
