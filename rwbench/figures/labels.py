"""Labels of spec keys on figure axes and legends (metric labels and units: rwbench.metrics.registry)."""

from __future__ import annotations

# spec keys (flattened column names) -> label for axes and legends
AXES: dict[str, str] = {
    "params_TK": "end temperature T_K [dimensionless]", "TK": "end temperature T_K [dimensionless]",
    "params_T0": "start temperature T_0 [dimensionless]", "T0": "start temperature T_0 [dimensionless]",
    "params_c": "step factor c [dimensionless]", "c": "step factor c [dimensionless]",
    "steps": "iterations K [steps]", "nfe": "denoiser evaluations per image, NFE [calls]",
    "schedule": "noise ladder [name]", "sampler": "sampler [name]", "model": "model [name]", "task": "task [name]",
    "seed": "seed [index]", "n_images": "images per cell [count]",
}


def axis_label(key: str) -> str:
    """Label of a spec key (params_TK -> end temperature T_K)."""
    return AXES.get(key, key.replace("params_", "").replace("_", " "))


__all__ = ["AXES", "axis_label"]
