"""FID along a trajectory: the Frechet distance between extractor features (Inception, digits-cnn) of the iterates at
about ten points and the reference set's cached statistics (shared/spec/scale-space.md, the 256 px GPU diagnostic).

The iterates go through the same path as the samples of `rwbench evaluate` (rwbench.data.to_uint8, the extractor's
conversion, torch-fidelity's feature extraction), so the last point's FID is the run's FID on the trajectory images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

F64 = torch.float64


def fid_point_indices(n_points: int, fid_points: int) -> list[int]:
    """`fid_points` indices spread evenly over 0..n_points-1, the first and the last (the output) included."""
    if fid_points <= 0 or n_points <= 0:
        return []
    if fid_points == 1:
        return [n_points - 1]
    if fid_points >= n_points:
        return list(range(n_points))
    return sorted(set(torch.linspace(0, n_points - 1, fid_points).round().long().tolist()))


@dataclass
class FeatureFID:
    """FID of float image batches (on `data_range`) against one reference set's statistics, as `rwbench evaluate` does."""

    extractor: object
    layer: str
    name: str
    reference: dict
    data_range: tuple[float, float]
    batch_size: int = 64
    device: str = "cpu"

    @classmethod
    def load(cls, reference: dict, data_range, channels: int, extractor: str, weights=None,
             cache_dir="results/reference", device: str = "cpu", batch_size: int = 64,
             allow_download: bool = False) -> "FeatureFID":
        """Resolve the extractor's weights, build it, and load (or compute and cache) the reference statistics."""
        from rwbench.metrics import extractors as ex
        from rwbench.metrics.reference import reference_statistics

        info = ex.resolve_extractor(extractor, weights, allow_download)
        net = ex.build_extractor(info, [info.layer], device)
        stats = reference_statistics(reference, info, cache_dir, channels, device, batch_size, extractor=net)
        return cls(net, info.layer, info.name, stats, (float(data_range[0]), float(data_range[1])), batch_size, device)

    def __call__(self, images: torch.Tensor) -> float:
        """FID of images [N, C, H, W] (float, data scale; N >= 2) to the reference statistics."""
        from rwbench.data import to_uint8
        from rwbench.metrics import extractors as ex
        from rwbench.metrics.fidelity import SetMetrics

        if images.dim() != 4 or len(images) < 2:
            raise ValueError(f"images: need [N >= 2, C, H, W], got {tuple(images.shape)}")
        prepared, conversion = ex.prepare_uint8(to_uint8(images, self.data_range), self.name)
        if conversion != self.reference["conversion"]:
            raise ValueError(f"{self.reference.get('path')}: reference conversion {self.reference['conversion']!r} "
                             f"differs from the trajectory's {conversion!r}")
        feats = ex.extract_features(self.extractor, prepared, self.batch_size, self.device)[self.layer]
        return SetMetrics(feats.double().cpu(), self.reference).fid()   # the one FID path (as `rwbench evaluate`)


def trajectory_fid(X: torch.Tensor, fid: FeatureFID, fid_points: int) -> torch.Tensor:
    """FID at `fid_points` evenly spread points of a trajectory X [P, B, C, H, W]; NaN at the other points, [P]."""
    out = torch.full((X.shape[0],), math.nan, dtype=F64)
    for k in fid_point_indices(X.shape[0], fid_points):
        out[k] = fid(X[k])
    return out


__all__ = ["FeatureFID", "fid_point_indices", "trajectory_fid"]
