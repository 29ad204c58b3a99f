"""A fixed random conv feature net registered as a torch-fidelity extractor: the stand-in for digits-cnn / Inception
in tests (features = mean of tanh(gain * conv(x)) over space, logits = a linear head on them)."""

from __future__ import annotations

import torch

from rwbench.metrics import extractors as ex


class ToyFeatureNet(torch.nn.Module):
    """Seeded conv (kernel, stride) -> tanh -> spatial mean: `width` features; a linear head gives 10 logits."""

    def __init__(self, width: int = 6, kernel: int = 3, stride: int = 1, gain: float = 1.0):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, width, kernel, stride=stride, padding=kernel // 2 if stride == 1 else 0)
        self.head = torch.nn.Linear(width, 10)
        self.gain = gain

    def features(self, x):
        return torch.tanh(self.gain * self.conv(x)).mean(dim=(2, 3))

    def forward(self, x):
        return self.head(self.features(x))


def register_toy_extractor(name: str, **net_options) -> str:
    """Register ToyFeatureNet(**net_options) under `name` with torch-fidelity; returns the name."""
    ex.make_module_extractor(name, lambda path: ToyFeatureNet(**net_options))
    return name
