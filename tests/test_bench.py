"""Benchmark scripts run and print their figures in the documented format (they are never timed in tests)."""

import re

from rwbench.bench import nets, walk


def test_walk_bench_prints_one_overhead_line_per_case(capsys):
    assert walk.main(["--batch-sizes", "2", "--steps", "2", "--repeats", "1", "--threads", "1"]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("model=")]
    assert len(lines) == 5
    assert all(re.search(r"denoiser_ms=[\d.]+ step_ms=[\d.]+ template_ms=[\d.]+ overhead=-?[\d.]+%$", l) for l in lines)
    assert {l.split()[0] for l in lines} == {"model=oracle-gmm10-d256", "model=cnn64", "model=embedded-unet-vp"}


def test_nets_bench_runs_small_configs_on_cpu(capsys):
    assert nets.main(["--config", "small", "--size", "32", "--batch-sizes", "1", "--dtypes", "fp32", "--repeats", "1",
                      "--warmup", "0", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "adm" in out and "ncsnpp" in out
