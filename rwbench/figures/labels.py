"""The one table of metric names -> human label, unit and better direction (figures, comparison tables, the unit
column of metrics.csv).

Torch- and matplotlib-free so that rwbench.compare can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

@dataclass(frozen=True)
class Metric:
    """A metric's human label, its unit on axes ("" = unitless), the better direction (lower | higher | "": judged
    against a reference level, e.g. coverage) and, where the axis unit says too little, the unit text metrics.csv
    carries (`detail`: FID's feature space, KID's kernel)."""

    label: str
    unit: str = ""
    better: str = ""
    detail: str = ""

    @property
    def csv_unit(self) -> str:
        """The `unit` column of metrics.csv."""
        return self.detail or self.unit


_PX = "pixel L2 on [0, 1]"
# metric column -> Metric: the one table of labels, units and directions (figures, comparison tables, metrics.csv)
METRICS: dict[str, Metric] = {
    "fid": Metric("FID", "", "lower", "squared feature distance (extractor's normalised features)"),
    "fid_ref_subset": Metric("FID of a reference subset", "", "lower",
                             "squared feature distance (extractor's normalised features)"),
    "kid_mean": Metric("KID", "", "lower", "MMD^2, cubic kernel on normalised features"),
    "kid": Metric("KID", "", "lower", "MMD^2, cubic kernel on normalised features"),
    "precision": Metric("precision", "fraction", "higher"),
    "recall": Metric("recall", "fraction", "higher"),
    "f_score": Metric("F-score (precision, recall)", "fraction", "higher"),
    "confident_share": Metric("confident share (classifier p > 0.9)", "fraction of images", "higher"),
    "confident": Metric("confident share (classifier p > 0.9)", "fraction of images", "higher"),
    "class_entropy": Metric("class entropy", "nats", "higher"),
    "class_entropy_max": Metric("class entropy of a uniform histogram", "nats"),
    "energy_distance": Metric("energy distance to exact draws", "[0, 1] pixel scale", "lower",
                              f"{_PX} (energy distance)"),
    "logp_gap": Metric("E_q[log p] - E_p[log p] (0: exact)", "nats per pixel"),
    "occupancy_tv": Metric("component occupancy TV to the weights", "", "lower", "probability (total variation)"),
    "sliced_wasserstein": Metric("sliced W2 to exact draws", "[0, 1] pixel scale", "lower", _PX),
    "psnr": Metric("PSNR", "dB", "higher"),
    "psnr_minmax": Metric("PSNR (per-image min-max)", "dB", "higher"),
    "psnr_mean_of_samples": Metric("PSNR of the mean of samples", "dB", "higher"),
    "psnr_minmax_mean_of_samples": Metric("PSNR (min-max) of the mean of samples", "dB", "higher"),
    "psnr_exact_mmse": Metric("PSNR of the exact posterior mean", "dB", "higher"),
    "psnr_gap": Metric("PSNR(mean of N) - PSNR(exact mean)", "dB", "higher"),
    "psnr_gap_exact_draws": Metric("PSNR(mean of N exact draws) - PSNR(exact mean)", "dB"),
    "psnr_gap_vs_exact_draws": Metric("PSNR(mean of N) - PSNR(mean of N exact draws)", "dB"),
    "ssim": Metric("SSIM", "", "higher", "1"),
    "ssim_mean_of_samples": Metric("SSIM of the mean of samples", "", "higher", "1"),
    "lpips": Metric("LPIPS", "", "lower", "LPIPS distance"),
    "coverage": Metric("coverage of the ground truth", "fraction of pixels"),
    "coverage_of_exact_draws": Metric("coverage of exact posterior draws", "fraction of pixels"),
    "coverage_reference": Metric("coverage N exact draws reach (expected)", "fraction of pixels"),
    "mse_mean_vs_mmse": Metric("MSE(mean of N, exact mean)", "[0, 1] scale squared", "lower",
                               "squared pixel on [0, 1]"),
    "level": Metric("credible level", "probability"),
    "diverged_fraction": Metric("diverged images", "fraction of images", "lower"),
    "diverged": Metric("diverged run", "flag", "lower"),
    "wall_s": Metric("wall time", "s", "lower"),
}
# <m>_exact_n (rwbench.rundir.EXACT_N): the oracle calibration statistic m of N independent exact posterior draws in
# place of the sampler's (what N exact draws reach); same unit, no better direction of its own
EXACT_N, EXACT_N_METRICS = "_exact_n", ("coverage", "coverage_of_exact_draws", "psnr_gap_vs_exact_draws",
                                        "energy_distance", "sliced_wasserstein")
METRICS.update({m + EXACT_N: Metric(f"{METRICS[m].label}, N exact draws", METRICS[m].unit, "", METRICS[m].detail)
                for m in EXACT_N_METRICS})

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
    m = METRICS.get(metric, Metric(metric.replace("_", " ")))
    return f"{m.label} [{m.unit}]" if unit and m.unit else m.label


def axis_label(key: str) -> str:
    """Label of a spec key (params_TK -> end temperature T_K)."""
    return AXES.get(key, key.replace("params_", "").replace("_", " "))


def better(metric: str) -> str:
    """lower | higher | '' (no better direction, e.g. coverage, judged against a reference level)."""
    return METRICS[metric].better if metric in METRICS else ""


def csv_unit(metric: str) -> str:
    """The unit metrics.csv writes for a metric ('' when the table does not list it)."""
    return METRICS[metric].csv_unit if metric in METRICS else ""


__all__ = ["METRICS", "Metric", "AXES", "metric_label", "axis_label", "better", "csv_unit"]
