"""Benchmark scripts run and print their figures in the documented format (they are never timed in tests)."""

import re

from rwbench.tools.bench import nets, walk


def test_walk_bench_prints_one_overhead_line_per_case(capsys):
    assert walk.main(["--batch-sizes", "2", "--steps", "2", "--repeats", "1", "--threads", "1"]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("model=")]
    assert len(lines) == 5
    assert all(re.search(r"denoiser_ms=[\d.]+ step_ms=[\d.]+ template_ms=[\d.]+ overhead=-?[\d.]+%$", l) for l in lines)
    assert {l.split()[0] for l in lines} == {"model=oracle-gmm10-d256", "model=cnn64", "model=embedded-unet-vp"}


def test_walk_bench_compares_the_template_with_euler_ancestral(capsys):
    from rwbench.baselines import kdiffusion

    assert walk.main(["--batch-sizes", "3", "--steps", "3", "--repeats", "1", "--threads", "1", "--compare-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("compare=euler_ancestral batch=3 dtype=float32 reference=")
                                   for line in lines)
    assert ("reference=k-diffusion " in lines[0]) == (kdiffusion.sampling()[0] is not None)
    assert re.search(r"reference_ms=[\d.]+ template_batch_noise_ms=[\d.]+ template_per_image_noise_ms=[\d.]+ "
                     r"template_coupled_noise_ms=[\d.]+ solver_per_image_noise_ms=[\d.]+ ratio_batch=[\d.]+ "
                     r"ratio_per_image=[\d.]+ ratio_coupled=[\d.]+$", lines[0])
    assert re.search(r" noise_only randn_like_ms=[\d.]+ coupled_draw_ms=[\d.]+ ratio_coupled_draw=[\d.]+$", lines[1])


def test_nets_bench_runs_small_configs_on_cpu(capsys):
    assert nets.main(["--config", "small", "--size", "32", "--batch-sizes", "1", "--dtypes", "fp32", "--repeats", "1",
                      "--warmup", "0", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "adm" in out and "ncsnpp" in out
