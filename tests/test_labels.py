"""rwbench.metrics.registry: the one table of metric names, labels, units, directions, kinds and functions."""

import pytest

from rwbench.metrics import registry
from rwbench.metrics.evaluate import ORACLE_METRICS


def test_every_metric_evaluate_writes_has_a_label_and_a_unit_column():
    names = set(ORACLE_METRICS) | {m + registry.EXACT_N for m in registry.EXACT_N_METRICS} | {
        "fid", "kid_mean", "psnr", "psnr_minmax", "ssim", "energy_distance", "logp_gap", "occupancy_tv",
        "confident_share", "class_entropy", "diverged_fraction", "psnr_mean_of_samples", "level"}
    missing = sorted(n for n in names if n not in registry.METRICS)
    assert not missing, f"no label / unit for {missing}"
    assert registry.csv_unit("psnr") == "dB" and registry.metric_label("psnr") == "PSNR [dB]"
    # metrics.csv says what FID is measured in; axes keep the short label
    assert "feature" in registry.csv_unit("fid") and registry.metric_label("fid") == "FID"
    assert registry.csv_unit("no_such_metric") == "" and registry.metric_label("no_such_metric") == "no such metric"


def test_exact_n_metrics_share_the_unit_and_have_no_direction():
    for m in registry.EXACT_N_METRICS:
        assert registry.csv_unit(m + registry.EXACT_N) == registry.csv_unit(m)
        assert registry.better(m + registry.EXACT_N) == ""
    assert registry.better("energy_distance") == "lower" and registry.better("coverage") == ""


def test_every_named_function_resolves_and_kinds_are_known():
    for name, metric in registry.METRICS.items():
        assert set(metric.kinds) <= set(registry.KINDS), name
        if metric.function:
            assert callable(registry.function(name)), name
    assert registry.names("per-image") == ("psnr", "psnr_minmax", "ssim", "lpips")
    assert ORACLE_METRICS == registry.names("posterior")
    with pytest.raises(ValueError, match="kind"):
        registry.names("pixel")
    with pytest.raises(ValueError, match="better"):
        registry.Metric("x", better="up")


def test_per_image_registry_functions_are_what_evaluate_writes(tmp_path):
    """evaluate computes the per-image rows from the registry: the rows it writes are exactly names("per-image")."""
    import torch

    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    gt = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    for name in ("psnr", "psnr_minmax", "ssim"):
        values = registry.function(name)(x, gt)
        assert values.shape == (3,) and torch.isfinite(values).all(), name


def test_the_credible_level_and_the_confidence_threshold_have_one_home():
    """registry.CREDIBLE_LEVEL and registry.CONFIDENT are the only spellings: no function in rwbench defaults a
    `level` / `threshold` parameter to their value written out (95 % interval levels are another concept), and the
    functions that take them default to these."""
    import ast
    import inspect
    from pathlib import Path

    from rwbench.metrics import fidelity, posterior_quality

    def literal_defaults(source: str) -> list[str]:
        out = []
        for f in ast.walk(ast.parse(source)):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = f.args.posonlyargs + f.args.args
                pairs = list(zip(args[len(args) - len(f.args.defaults):], f.args.defaults))
                pairs += [(a, d) for a, d in zip(f.args.kwonlyargs, f.args.kw_defaults) if d is not None]
                out += [f"{f.name}({a.arg}={d.value})" for a, d in pairs if isinstance(d, ast.Constant)
                        and d.value in (registry.CREDIBLE_LEVEL, registry.CONFIDENT)
                        and ("level" in a.arg or "threshold" in a.arg)]
        return out

    package = Path(registry.__file__).resolve().parents[1]
    found = {str(p.relative_to(package)): literal_defaults(p.read_text()) for p in sorted(package.rglob("*.py"))}
    assert not {k: v for k, v in found.items() if v}, "use registry.CREDIBLE_LEVEL / registry.CONFIDENT"
    assert literal_defaults("def cover(draws, level=0.9): ...") == ["cover(level=0.9)"]       # the scan can fail
    assert inspect.signature(fidelity.classifier_statistics).parameters["threshold"].default == registry.CONFIDENT
    for fn in (posterior_quality.credible_intervals, posterior_quality.credible_coverage,
               posterior_quality.reference_coverage_uniform, posterior_quality.reference_coverage):
        assert inspect.signature(fn).parameters["level"].default == registry.CREDIBLE_LEVEL, fn.__name__
    assert str(registry.CONFIDENT) in registry.metric_label("confident_share")
