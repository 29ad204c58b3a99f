"""rwbench.figures.labels: the one table of metric labels, units and directions (figures, comparisons, metrics.csv)."""

from rwbench import rundir
from rwbench.figures import labels
from rwbench.metrics.evaluate import ORACLE_METRICS


def test_every_metric_evaluate_writes_has_a_label_and_a_unit_column():
    names = set(ORACLE_METRICS) | {m + rundir.EXACT_N for m in rundir.EXACT_N_METRICS} | {
        "fid", "kid_mean", "psnr", "psnr_minmax", "ssim", "energy_distance", "logp_gap", "occupancy_tv",
        "confident_share", "class_entropy", "diverged_fraction", "psnr_mean_of_samples", "level"}
    missing = sorted(n for n in names if n not in labels.METRICS)
    assert not missing, f"no label / unit for {missing}"
    assert rundir.metric_unit("psnr") == "dB" and labels.metric_label("psnr") == "PSNR [dB]"
    # metrics.csv says what FID is measured in; axes keep the short label
    assert "feature" in rundir.metric_unit("fid") and labels.metric_label("fid") == "FID"
    assert rundir.metric_unit("no_such_metric") == "" and labels.metric_label("no_such_metric") == "no such metric"


def test_exact_n_metrics_share_the_unit_and_have_no_direction():
    for m in rundir.EXACT_N_METRICS:
        assert rundir.metric_unit(m + rundir.EXACT_N) == rundir.metric_unit(m)
        assert labels.better(m + rundir.EXACT_N) == ""
    assert labels.better("energy_distance") == "lower" and labels.better("coverage") == ""
