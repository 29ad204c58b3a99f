"""The one table of metric names -> human label, unit and better direction (figures, comparison tables).

Torch- and matplotlib-free so that rwbench.compare can import it.
"""

from __future__ import annotations

# metric column -> (label, unit ("" = unitless), better: lower | higher | "" (no direction))
METRICS: dict[str, tuple[str, str, str]] = {
    "fid": ("FID", "", "lower"),
    "fid_ref_subset": ("FID of a reference subset", "", "lower"),
    "kid_mean": ("KID", "", "lower"),
    "kid": ("KID", "", "lower"),
    "precision": ("precision", "", "higher"),
    "recall": ("recall", "", "higher"),
    "f_score": ("F-score (precision, recall)", "", "higher"),
    "confident_share": ("confident share (classifier p > 0.9)", "", "higher"),
    "confident": ("confident share (classifier p > 0.9)", "", "higher"),
    "class_entropy": ("class entropy", "nats", "higher"),
    "energy_distance": ("energy distance to exact draws", "[0, 1] pixel scale", "lower"),
    "logp_gap": ("E_q[log p] - E_p[log p] (0: exact)", "nats per pixel", ""),
    "occupancy_tv": ("component occupancy TV to the weights", "", "lower"),
    "sliced_wasserstein": ("sliced W2 to exact draws", "[0, 1] pixel scale", "lower"),
    "psnr": ("PSNR", "dB", "higher"),
    "psnr_minmax": ("PSNR (per-image min-max)", "dB", "higher"),
    "psnr_mean_of_samples": ("PSNR of the mean of samples", "dB", "higher"),
    "psnr_exact_mmse": ("PSNR of the exact posterior mean", "dB", "higher"),
    "psnr_gap": ("PSNR(mean of N) - PSNR(exact mean)", "dB", "higher"),
    "ssim": ("SSIM", "", "higher"),
    "ssim_mean_of_samples": ("SSIM of the mean of samples", "", "higher"),
    "lpips": ("LPIPS", "", "lower"),
    "coverage": ("coverage of the ground truth", "fraction of pixels", ""),
    "coverage_of_exact_draws": ("coverage of exact posterior draws", "fraction of pixels", ""),
    "mse_mean_vs_mmse": ("MSE(mean of N, exact mean)", "[0, 1] scale squared", "lower"),
    "diverged_fraction": ("diverged images", "fraction", "lower"),
    "wall_s": ("wall time", "s", "lower"),
}

# spec keys (flattened column names) -> label for axes and legends
AXES: dict[str, str] = {
    "params_TK": "end temperature T_K", "TK": "end temperature T_K",
    "params_T0": "start temperature T_0", "T0": "start temperature T_0",
    "params_c": "step factor c", "c": "step factor c",
    "steps": "iterations K", "nfe": "denoiser evaluations per image (NFE)",
    "schedule": "noise ladder", "sampler": "sampler", "model": "model", "task": "task", "seed": "seed",
    "n_images": "images per cell",
}


def metric_label(metric: str, unit: bool = True) -> str:
    """`FID`, `PSNR [dB]`: the metric's label with its unit in brackets (unknown metrics: the name itself)."""
    name, u, _ = METRICS.get(metric, (metric.replace("_", " "), "", ""))
    return f"{name} [{u}]" if unit and u else name


def axis_label(key: str) -> str:
    """Label of a spec key (params_TK -> end temperature T_K)."""
    return AXES.get(key, key.replace("params_", "").replace("_", " "))


def better(metric: str) -> str:
    """lower | higher | '' (no better direction, e.g. coverage, judged against a reference level)."""
    return METRICS.get(metric, ("", "", ""))[2]


__all__ = ["METRICS", "AXES", "metric_label", "axis_label", "better"]
