"""Options of `rwbench evaluate` / rwbench.metrics.evaluate.evaluate_run, with their defaults (torch-free: the CLI
parser reads them)."""

from __future__ import annotations

import dataclasses

from rwbench.plan.config import default


@dataclasses.dataclass(frozen=True)
class EvaluateOptions:
    """Options of evaluate_run. The `metrics:` options of the config schema take the schema's defaults (the one home of
    defaults; `rwbench evaluate` reads its defaults from here); `extractor` None means the dataset's default
    (default_extractor: digits-cnn for digits, Inception otherwise), which is what the DAG's schema default picks for
    its digits-scale models; the rest are evaluate's own."""

    reference_cache: str = "results/reference"
    extractor: str | None = None
    extractor_weights: str | None = default("metrics.extractor_weights")
    lpips: bool = default("metrics.lpips")
    lpips_net: str = default("metrics.lpips_net")
    n_boot: int = default("metrics.n_boot")
    prc: bool = True
    prc_neighborhood: int = 3
    device: str = default("device")
    batch_size: int = 64
    max_diverged: float = 0.5
    allow_download: bool = True
    allow_partial: bool = False
    seed: int = 0
    fidelity: bool = True      # posterior fidelity of inverse runs (calibration curves, MMSE gap, score-KSD)


def option_fields() -> dict[str, dataclasses.Field]:
    """{name: field} of EvaluateOptions."""
    return {f.name: f for f in dataclasses.fields(EvaluateOptions)}


__all__ = ["EvaluateOptions", "option_fields"]
