"""The generic set-metric path: a set metric is one function + one registry row (rwbench.metrics.registry).

A registry row with `kinds=("set",)`, `function="<module>.<name>"` and `needs=(...)` (a subset of registry.NEEDS) is
computed by `rwbench evaluate` for every unconditional run that has those inputs, with no edit to evaluate.py:

    value      = fn(inputs)                      the estimate on all n non-diverged images
    replicates = [fn(inputs, c) for c in counts] counts: the bootstrap multiplicities every set metric of the run
                                                 shares (rwbench.metrics.uncertainty.bootstrap_counts, SET_BOOT)

and one metrics.csv row with the row's unit, se = sd of the replicates and the re-centred percentile interval
(uncertainty.replicate_interval), like FID, KID and the exact metrics. The protocol:

- `fn(inputs: SetInputs, counts=None) -> float`. `counts` is None (the plain estimate) or a numpy int64 vector [n]
  of multiplicities (image i counted counts[i] times, sum n); fn must treat it as a reweighting of the images (the
  multiset's statistic), so replicates are the statistic of bootstrap resamples. NaN is allowed (a replicate that
  is undefined; replicate_interval drops it).
- `needs` says which inputs fn reads; evaluate computes the metric exactly when the run has all of them
  (SetInputs.available) and leaves it out otherwise. When more than --max-diverged of the images diverged, no
  extractor runs and no generic set metric is written (as for the classifier and exact metrics).
    uint8     `inputs.uint8` [n, C, H, W] uint8 samples (every unconditional run)
    sample    `inputs.sample` [n, C, H, W] float samples mapped to [0, 1] (not clamped; docs/run-layout.md)
    features  `inputs.features` [n, D] float64 generated features and `inputs.reference` (the reference statistics:
              mu, sigma, features, count) in the extractor's normalised space; `inputs.reference_features` [m, D]
    logits    `inputs.logits` [n, classes] float64 (classifier extractors, e.g. digits-cnn)
    oracle    `inputs.oracle` (the run's Gaussian-mixture oracle, rwbench.models.oracle) and
              `inputs.exact_reference` (its exact reference draws, uint8 [m, C, H, W]); oracle runs with float samples
  Row i of every per-image input is the same image.
- metrics.csv's reference / extractor / conversion / n_ref columns follow the needs (SetInputs.columns: features
  -> the reference and feature extractor, logits -> the classifier's logits, oracle -> exact_mixture, else the
  samples), and the row's `note` is appended to the conversion text.
- `inputs.memo(key, make)` keeps a per-run intermediate (e.g. a kernel matrix) so the replicates reuse it.

Set metrics that share one computation (FID / KID: fidelity.SetMetrics; the oracle metrics: exact.ExactMetrics)
keep their own blocks in evaluate; metrics on the generic path that have no other home live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class SetInputs:
    """What a generic set metric may read, built once per run by evaluate (see the module docstring). Tensors hold the
    run's non-diverged images in index order; inputs a run lacks are None."""

    uint8: torch.Tensor
    sample: torch.Tensor | None = None
    features: torch.Tensor | None = None
    reference: dict | None = None
    logits: torch.Tensor | None = None
    oracle: object | None = None
    exact_reference: torch.Tensor | None = None
    reference_label: str = ""
    extractor_label: str = ""
    logit_label: str = ""
    conversion: str = ""
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        """Images the metrics use (the run's non-diverged images)."""
        return len(self.uint8)

    @property
    def reference_features(self) -> torch.Tensor | None:
        """The reference's feature rows [m, D] (float64), or None without an extractor."""
        if self.reference is None:
            return None
        return torch.as_tensor(self.reference["features"]).detach().cpu().to(torch.float64)

    def available(self) -> frozenset[str]:
        """The registry NEEDS this run meets."""
        have = {"uint8"}
        if self.sample is not None:
            have.add("sample")
        if self.features is not None and self.reference is not None:
            have.add("features")
        if self.logits is not None:
            have.add("logits")
        if self.oracle is not None and self.exact_reference is not None:
            have.add("oracle")
        return frozenset(have)

    def columns(self, needs) -> dict:
        """reference, extractor, conversion and n_ref of the metrics.csv row of a metric with these needs."""
        if "features" in needs:
            return {"reference": self.reference_label, "extractor": self.extractor_label,
                    "conversion": self.conversion, "n_ref": int(self.reference["count"])}
        if "logits" in needs:
            return {"reference": "", "extractor": self.logit_label, "conversion": self.conversion, "n_ref": 0}
        if "oracle" in needs:
            return {"reference": "exact_mixture", "extractor": "", "conversion": "float samples on [0, 1]",
                    "n_ref": 0}
        if "sample" in needs:
            return {"reference": "", "extractor": "", "conversion": "float samples on [0, 1]", "n_ref": 0}
        return {"reference": "", "extractor": "", "conversion": "uint8 images", "n_ref": 0}

    def memo(self, key: str, make):
        """make() once per run under `key`; later calls (the bootstrap replicates) get the same object."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]


def compute(fn, inputs: SetInputs, counts) -> tuple[float, list[float]]:
    """(fn(inputs), [fn(inputs, c) for c in counts]): a generic set metric's estimate and bootstrap replicates."""
    return float(fn(inputs)), [float(fn(inputs, c)) for c in counts]


# ------------------------------------------------------------------ set metrics on the generic path (registry rows)


def class_entropy(inputs: SetInputs, counts=None) -> float:
    """-sum_c h_c log h_c (nats) of the histogram h of the classifier's predicted classes (argmax of the softmax),
    each image weighted by its multiplicity in `counts`; log(classes) for a uniform histogram, 0 for one class."""
    argmax = inputs.memo("predicted_class", lambda: torch.softmax(inputs.logits, dim=1).argmax(dim=1).numpy())
    hist = np.bincount(argmax, weights=counts, minlength=inputs.logits.shape[1]).astype(np.float64)
    hist = hist[hist > 0] / hist.sum()
    return float(-(hist * np.log(hist)).sum()) + 0.0   # + 0.0: no "-0.0" for a one-class histogram


__all__ = ["SetInputs", "compute", "class_entropy"]
