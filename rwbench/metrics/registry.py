"""The metric registry: one row per metric name evaluate writes (its label, unit, better direction, the kind of
statistic it is and the function that computes it). Figures render labels from it, metrics.csv takes its unit column
from it, compare reads the better direction from it, evaluate takes its per-image and posterior lists from it and the
tests derive their lists from it. Torch-free (the analysis layer imports it).

Kinds: `set` (a statistic of the whole sample set, bootstrap interval over images), `per-image` (one value per image,
mean with se / interval), `per-target` (inverse tasks: one value per measured target), `posterior` (oracle inverse
runs: the sampler's N draws per target against the exact posterior, t interval over targets), `fidelity` (inverse runs
with N draws per target: calibration curves, MMSE gap, score-KSD; rwbench.metrics.posterior_fidelity), `run`
(bookkeeping).

A set metric is one function + one row: a row with `needs` (a subset of NEEDS) names a function
`fn(inputs, counts=None) -> float` that evaluate calls on the run's rwbench.metrics.set_protocol.SetInputs, once for the
estimate and once per bootstrap count vector, whenever the run has those inputs (the protocol: that module's
docstring). Set rows without `needs` (FID / KID, the oracle metrics) are computed in their shared blocks in evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass

# nominal level of the per-pixel credible intervals of posterior calibration (evaluate, figures, the bench)
CREDIBLE_LEVEL = 0.9
# a classifier is confident about an image when its largest softmax probability is >= this (confident_share)
CONFIDENT = 0.9
KINDS = ("set", "per-image", "per-target", "posterior", "fidelity", "run")
# inputs a generic set metric may need (rwbench.metrics.set_protocol.SetInputs): uint8 samples, float samples on
# [0, 1], generated + reference features, classifier logits, the oracle mixture with its exact reference draws
NEEDS = ("uint8", "sample", "features", "logits", "oracle")


@dataclass(frozen=True)
class Metric:
    """A metric's human label, its unit on axes ("" = unitless), the better direction (lower | higher | "": judged
    against a reference level, e.g. coverage), the unit text metrics.csv carries where the axis unit says too little
    (`detail`: FID's feature space, KID's kernel), its kinds (KINDS), the dotted path of the function that computes it
    and whether evaluate also writes `<name>_exact_n` (the value N exact posterior draws reach). A set metric on the
    generic path (rwbench.metrics.set_protocol) declares the inputs its function reads (`needs`, from NEEDS) and may
    add a `note` to metrics.csv's conversion column."""

    label: str
    unit: str = ""
    better: str = ""
    detail: str = ""
    kinds: tuple[str, ...] = ()
    function: str = ""
    exact_n: bool = False
    needs: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self):
        if self.better not in ("", "lower", "higher"):
            raise ValueError(f"better: choose lower, higher or '', got {self.better!r}")
        bad = [k for k in self.kinds if k not in KINDS]
        if bad:
            raise ValueError(f"kinds: unknown {bad}; choose from {', '.join(KINDS)}")
        if not isinstance(self.needs, tuple):
            raise ValueError(f"{self.label}: needs must be a tuple of names from {', '.join(NEEDS)}, got {self.needs!r}")
        bad = [k for k in self.needs if k not in NEEDS]
        if bad:
            raise ValueError(f"{self.label}: needs {bad} unknown; choose from {', '.join(NEEDS)}")
        if self.needs and self.kinds != ("set",):
            raise ValueError(f"{self.label}: needs (the generic set-metric path) requires kinds=('set',), "
                             f"got {self.kinds}")
        if self.needs and "." not in self.function.strip("."):
            raise ValueError(f"{self.label}: a generic set metric names its function as 'module.name' "
                             f"(fn(inputs, counts=None) -> float), got {self.function!r}")
        if self.note and not self.needs:
            raise ValueError(f"{self.label}: note is the generic set path's conversion text; this row has no needs")

    @property
    def csv_unit(self) -> str:
        """The `unit` column of metrics.csv."""
        return self.detail or self.unit


_PX = "pixel L2 on [0, 1]"
# metric column -> Metric, in the order evaluate writes each kind
METRICS: dict[str, Metric] = {
    "fid": Metric("FID", "", "lower", "squared feature distance (extractor's normalised features)", kinds=('set',), function="rwbench.metrics.fidelity.SetMetrics"),
    "fid_ref_subset": Metric("FID of a reference subset", "", "lower",
                             "squared feature distance (extractor's normalised features)", kinds=('set',), function="rwbench.metrics.floors.compute_floors"),
    "kid_mean": Metric("KID", "", "lower", "MMD^2, cubic kernel on normalised features", kinds=('set',), function="rwbench.metrics.fidelity.SetMetrics"),
    "kid": Metric("KID", "", "lower", "MMD^2, cubic kernel on normalised features", kinds=('set',), function="rwbench.metrics.fidelity.SetMetrics"),
    "precision": Metric("precision", "fraction", "higher", kinds=('set',), function="rwbench.metrics.fidelity.precision_recall"),
    "recall": Metric("recall", "fraction", "higher", kinds=('set',), function="rwbench.metrics.fidelity.precision_recall"),
    "f_score": Metric("F-score (precision, recall)", "fraction", "higher", kinds=('set',), function="rwbench.metrics.fidelity.precision_recall"),
    "confident_share": Metric(f"confident share (classifier p > {CONFIDENT:g})", "fraction of images", "higher", kinds=('set',), function="rwbench.metrics.fidelity.classifier_statistics"),
    "confident": Metric(f"confident share (classifier p > {CONFIDENT:g})", "fraction of images", "higher", kinds=('set',), function="rwbench.metrics.fidelity.classifier_statistics"),
    "class_entropy": Metric("class entropy", "nats", "higher", kinds=('set',), function="rwbench.metrics.set_protocol.class_entropy",
                            needs=("logits",), note="entropy of the argmax histogram"),
    "class_entropy_max": Metric("class entropy of a uniform histogram", "nats", kinds=('set',), function="rwbench.metrics.fidelity.classifier_statistics"),
    "coverage": Metric("coverage of the ground truth", "fraction of pixels", kinds=('posterior',), function="rwbench.metrics.posterior_quality.oracle_quality", exact_n=True),
    "coverage_of_exact_draws": Metric("coverage of exact posterior draws", "fraction of pixels", kinds=('posterior',), function="rwbench.metrics.posterior_quality.oracle_quality", exact_n=True),
    "coverage_reference": Metric("coverage N exact draws reach (expected)", "fraction of pixels", kinds=('posterior',), function="rwbench.metrics.posterior_quality.oracle_quality"),
    "psnr_gap": Metric("PSNR(mean of N) - PSNR(exact mean)", "dB", "higher", kinds=('posterior',), function="rwbench.metrics.posterior_quality.oracle_quality"),
    "psnr_gap_exact_draws": Metric("PSNR(mean of N exact draws) - PSNR(exact mean)", "dB", kinds=('posterior',), function="rwbench.metrics.posterior_quality.oracle_quality"),
    "psnr_gap_vs_exact_draws": Metric("PSNR(mean of N) - PSNR(mean of N exact draws)", "dB", kinds=('posterior',), function="rwbench.metrics.posterior_quality.oracle_quality", exact_n=True),
    "energy_distance": Metric("energy distance to exact draws", "[0, 1] pixel scale", "lower",
                              f"{_PX} (energy distance)", kinds=('set', 'posterior'), function="rwbench.metrics.exact.ExactMetrics", exact_n=True),
    "sliced_wasserstein": Metric("sliced W2 to exact draws", "[0, 1] pixel scale", "lower", _PX, kinds=('posterior',), function="rwbench.metrics.posterior_quality.oracle_quality", exact_n=True),
    "mse_mean_vs_mmse": Metric("MSE(mean of N, exact mean)", "[0, 1] scale squared", "lower",
                               "squared pixel on [0, 1]", kinds=('posterior',), function="rwbench.metrics.posterior_quality.oracle_quality"),
    "logp_gap": Metric("E_q[log p] - E_p[log p] (0: exact)", "nats per pixel", kinds=('set',), function="rwbench.metrics.exact.ExactMetrics"),
    "occupancy_tv": Metric("component occupancy TV to the weights", "", "lower", "probability (total variation)", kinds=('set',), function="rwbench.metrics.exact.ExactMetrics"),
    # oracle moment metrics (rwbench.metrics.exact): variance ratios have no better direction (1 is exact, > 1 too
    # spread, < 1 contracted), like logp_gap; offsets, the chi-square and the largest deviation are lower-is-better
    "variance_ratio": Metric("E|x - mu|^2 / tr Sigma (1: exact)", "", "", "ratio (1 = exact)", kinds=('set',), function="rwbench.metrics.exact.ExactMetrics"),
    "mean_offset": Metric("|mean(x) - mu|", "[0, 1] pixel scale", "lower", _PX, kinds=('set',), function="rwbench.metrics.exact.ExactMetrics"),
    "mean_offset_sq": Metric("|E x - mu|^2, unbiased", "[0, 1] scale squared", "lower", "squared pixel L2 on [0, 1] (U-statistic)", kinds=('set',), function="rwbench.metrics.exact.ExactMetrics"),
    "occupancy_chi2": Metric("component occupancy chi-square to the weights", "", "lower", "chi-square divergence sum (h - w)^2 / w", kinds=('set',), function="rwbench.metrics.exact.ExactMetrics"),
    "component_variance_ratio": Metric("within-component E|x - mu_j|^2 / tr C_j (1: exact)", "", "", "ratio (1 = exact), responsibility-weighted", kinds=('set',), function="rwbench.metrics.exact.ExactMetrics"),
    "component_ratio_maxdev": Metric("largest |per-component variance ratio - 1|", "", "lower", "ratio deviation", kinds=('set',), function="rwbench.metrics.exact.ExactMetrics"),
    "psnr": Metric("PSNR", "dB", "higher", kinds=('per-image',), function="rwbench.metrics.image_quality.psnr"),
    "psnr_minmax": Metric("PSNR (per-image min-max)", "dB", "higher", kinds=('per-image',), function="rwbench.metrics.image_quality.psnr_minmax"),
    "psnr_mean_of_samples": Metric("PSNR of the mean of samples", "dB", "higher", kinds=('per-target',)),
    "psnr_minmax_mean_of_samples": Metric("PSNR (min-max) of the mean of samples", "dB", "higher", kinds=('per-target',)),
    "psnr_exact_mmse": Metric("PSNR of the exact posterior mean", "dB", "higher", kinds=('per-target',)),
    "ssim": Metric("SSIM", "", "higher", "1", kinds=('per-image',), function="rwbench.metrics.image_quality.ssim"),
    "ssim_mean_of_samples": Metric("SSIM of the mean of samples", "", "higher", "1", kinds=('per-target',)),
    "lpips": Metric("LPIPS", "", "lower", "LPIPS distance", kinds=('per-image',), function="rwbench.metrics.lpips_metric.LPIPSMetric"),
    "level": Metric("credible level", "probability", kinds=('run',)),
    "diverged_fraction": Metric("diverged images", "fraction of images", "lower", kinds=('run',)),
    "diverged": Metric("diverged run", "flag", "lower", kinds=('run',)),
    "wall_s": Metric("wall time", "s", "lower", kinds=('run',)),
}
# posterior fidelity (issue 26; rwbench.metrics.posterior_fidelity): each with its value for N exact draws (<m>_exact_n)
_PF = "rwbench.metrics.posterior_fidelity.run_fidelity"
_COV = "coverage minus reference (mean over levels)"
for _name, _label, _unit in (
        ("coverage_gap", "calibration gap, pixels (vs exact draws)", _COV),
        ("coverage_gap_random", "calibration gap, random projections (vs exact draws)", _COV),
        ("coverage_gap_principal", "calibration gap, posterior principal directions (vs exact draws)", _COV),
        ("coverage_gap_truth", "calibration gap, pixels (vs the ground truth)", _COV),
        ("mmse_gap_db", "MMSE gap of the mean of N (vs tr Cov / N)", "dB"),
        ("ksd", "score-KSD^2 (IMQ, U-statistic)", "")):
    _better = "lower" if _name in ("mmse_gap_db", "ksd") else ""
    METRICS[_name] = Metric(_label, _unit, _better, "model data scale, squared score units" if _name == "ksd" else "",
                            kinds=("fidelity",), function=_PF)
    METRICS[_name + "_exact_n"] = Metric(f"{_label}, N exact draws", _unit, "",
                                         METRICS[_name].detail, ("fidelity",), _PF)
# <m>_exact_n: the oracle calibration statistic m of N independent exact posterior draws in place of the sampler's
# (what N exact draws reach); same unit, no better direction of its own
EXACT_N = "_exact_n"
EXACT_N_METRICS = tuple(name for name, m in METRICS.items() if m.exact_n)
METRICS.update({m + EXACT_N: Metric(f"{METRICS[m].label}, N exact draws", METRICS[m].unit, "", METRICS[m].detail,
                                    ("posterior",), METRICS[m].function) for m in EXACT_N_METRICS})


def names(kind: str) -> tuple[str, ...]:
    """Metric names of one kind, in registry order (e.g. names("per-image") -> psnr, psnr_minmax, ssim, lpips)."""
    if kind not in KINDS:
        raise ValueError(f"kind: choose one of {', '.join(KINDS)}, got {kind!r}")
    return tuple(n for n, m in METRICS.items() if kind in m.kinds and not n.endswith(EXACT_N))


def function(name: str):
    """The callable that computes a metric (imported on demand)."""
    import importlib

    path = METRICS[name].function
    if not path:
        raise KeyError(f"{name}: the registry names no function")
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def generic_set_names() -> tuple[str, ...]:
    """Set metrics on the generic path (rows with `needs`), in registry order: what evaluate computes through
    rwbench.metrics.set_protocol for every run that has their inputs."""
    return tuple(n for n, m in METRICS.items() if m.needs)


def set_function(name: str):
    """The function of a generic set metric, imported and checked to take (inputs, counts=None); a row whose
    function does not import or has another signature raises one line naming the row."""
    import inspect

    path = METRICS[name].function
    try:
        fn = function(name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"metric {name!r}: its function {path!r} does not import ({err}); fix its row in "
                         "rwbench/metrics/registry.py") from err
    try:
        signature = inspect.signature(fn)
        signature.bind(None)
        signature.bind(None, None)
    except (TypeError, ValueError) as err:
        raise ValueError(f"metric {name!r}: {path} must take (inputs, counts=None) "
                         "(rwbench.metrics.set_protocol)") from err
    return fn


def metric_label(metric: str, unit: bool = True) -> str:
    """`FID`, `PSNR [dB]`: the metric's label with its unit in brackets (unknown metrics: the name itself)."""
    m = METRICS.get(metric, Metric(metric.replace("_", " ")))
    return f"{m.label} [{m.unit}]" if unit and m.unit else m.label


def better(metric: str) -> str:
    """lower | higher | '' (no better direction, e.g. coverage, judged against a reference level)."""
    return METRICS[metric].better if metric in METRICS else ""


def csv_unit(metric: str) -> str:
    """The unit metrics.csv writes for a metric ('' when the registry does not list it)."""
    return METRICS[metric].csv_unit if metric in METRICS else ""


__all__ = ["METRICS", "Metric", "KINDS", "NEEDS", "CREDIBLE_LEVEL", "EXACT_N", "EXACT_N_METRICS", "names",
           "function", "generic_set_names", "set_function", "metric_label", "better", "csv_unit"]
