"""Labels of spec keys on figure axes and legends (metric labels and units: rwbench.metrics.registry)."""

from __future__ import annotations

# spec keys (flattened column names) -> label for axes and legends
AXES: dict[str, str] = {
    "params_TK": "end temperature T_K", "TK": "end temperature T_K",
    "params_T0": "start temperature T_0", "T0": "start temperature T_0",
    "params_c": "step factor c", "c": "step factor c",
    "steps": "iterations K", "nfe": "denoiser evaluations per image (NFE)",
    "schedule": "noise ladder", "sampler": "sampler", "model": "model", "task": "task", "seed": "seed",
    "n_images": "images per cell",
}


def axis_label(key: str) -> str:
    """Label of a spec key (params_TK -> end temperature T_K)."""
    return AXES.get(key, key.replace("params_", "").replace("_", " "))


__all__ = ["AXES", "axis_label"]
