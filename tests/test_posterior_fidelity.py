"""Posterior fidelity (issue 26): calibration curves, the MMSE gap, the score-KSD and the cross-run tables."""

import math

import numpy as np
import pytest
import torch

from rwbench.metrics import posterior_fidelity as pf
from rwbench.models.denoisers import GaussianDenoiser, GaussianMixtureDenoiser

F64 = torch.float64


def _gaussian(d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(d, d, generator=g, dtype=F64)
    return torch.randn(d, generator=g, dtype=F64), B @ B.T / d + 0.3 * torch.eye(d, dtype=F64)


def _draws(mean, cov, n, g):
    L = torch.linalg.cholesky(cov)
    return mean + torch.randn(n, len(mean), generator=g, dtype=F64) @ L.T


def test_stein_kernel_matches_autograd():
    """u_p(x, y) = k s_x.s_y + s_x.grad_y k + s_y.grad_x k + tr(grad_x grad_y k), by autograd, to rounding error."""
    mean, cov = _gaussian(4)
    P = torch.linalg.inv(cov)
    score = lambda x: -(x - mean) @ P
    g = torch.Generator().manual_seed(1)
    X = _draws(mean, cov, 5, g)
    for c, beta in ((1.0, -0.5), (0.7, -0.3)):
        U = pf.imq_stein_kernel(X, score(X), c, beta)
        for i, j in ((0, 1), (2, 4), (3, 3)):
            x, y = X[i].clone().requires_grad_(True), X[j].clone().requires_grad_(True)
            k = (c * c + (x - y).pow(2).sum()) ** beta
            gx, gy = torch.autograd.grad(k, (x, y), create_graph=True)
            trace = sum(torch.autograd.grad(gy[m], x, retain_graph=True)[0][m] for m in range(len(x)))
            want = k * score(x) @ score(y) + score(x) @ gy + score(y) @ gx + trace
            assert float(U[i, j]) == pytest.approx(float(want.detach()), rel=1e-12, abs=1e-12)
        assert torch.allclose(U, U.T, rtol=1e-13, atol=1e-13)


def test_ksd_is_zero_for_exact_draws_and_positive_when_shifted_or_narrow():
    """Mean over 300 targets of the N = 8 U-statistic: within 3 se of 0 for exact draws; clearly > 0 for a shifted or
    an over-concentrated sample."""
    mean, cov = _gaussian(3)
    P = torch.linalg.inv(cov)
    score = lambda x: -(x - mean) @ P
    g = torch.Generator().manual_seed(2)
    out = {}
    for name, make in (("exact", lambda: _draws(mean, cov, 8, g)),
                       ("shifted", lambda: _draws(mean + 0.5, cov, 8, g)),
                       ("narrow", lambda: _draws(mean, 0.25 * cov, 8, g))):
        v = np.array([pf.ksd_u(x, score(x)) for x in (make() for _ in range(300))])
        out[name] = (v.mean(), v.std(ddof=1) / math.sqrt(len(v)))
    m, se = out["exact"]
    assert abs(m) < 3 * se, out
    for name in ("shifted", "narrow"):
        assert out[name][0] > 8 * out[name][1] and out[name][0] > 10 * abs(m), out


def test_exact_draws_are_calibrated_in_expectation():
    """Exact draws against exact draws: the mean signed gap of the coverage curve (sampler intervals vs reference
    intervals, both N = 8 exact draws, of the same exact draws) is within MC error of 0, per pixel and projected."""
    mean, cov = _gaussian(6, seed=3)
    g = torch.Generator().manual_seed(4)
    V = pf.random_directions(6, 5)
    gaps = {"pixel": [], "random": []}
    for _ in range(200):
        a, b, points = _draws(mean, cov, 8, g), _draws(mean, cov, 8, g), _draws(mean, cov, 8, g)
        ca, cb = pf.curves(a, points, {"pixel": None, "random": V}), pf.curves(b, points, {"pixel": None, "random": V})
        for basis in gaps:
            gaps[basis].append(float(np.mean(ca[basis] - cb[basis])))
    for basis, v in gaps.items():
        v = np.array(v)
        assert abs(v.mean()) < 3 * v.std(ddof=1) / math.sqrt(len(v)), (basis, v.mean())
    # and the measured curve of exact draws matches the order-statistics reference (normal law) within MC error
    cover = np.mean([pf.coverage_curve(_draws(mean, cov, 8, g), _draws(mean, cov, 1, g)) for _ in range(2000)], axis=0)
    assert np.abs(cover - pf.reference_curve(8)).max() < 0.025
    # an over-concentrated sampler under-covers
    narrow = np.mean([np.mean(pf.coverage_curve(_draws(mean, 0.2 * cov, 8, g), _draws(mean, cov, 8, g))
                              - pf.reference_curve(8)) for _ in range(50)])
    assert narrow < -0.15


def test_mmse_gap_of_exact_draws_matches_trace_cov_over_n():
    """|mean of N exact draws - exact mean|^2 averages tr Cov / N: the ratio's mean is 1 within MC error."""
    mean, cov = _gaussian(5, seed=5)
    g = torch.Generator().manual_seed(6)
    r = np.array([pf.mmse_ratio(_draws(mean, cov, 8, g), mean, float(torch.trace(cov))) for _ in range(400)])
    assert abs(r.mean() - 1) < 3 * r.std(ddof=1) / math.sqrt(len(r))
    s = pf.ratio_db(r)
    assert s["ci_lo"] < 0 < s["ci_hi"] and abs(s["value"]) < 0.5
    biased = [pf.mmse_ratio(_draws(mean + 0.3, cov, 8, g), mean, float(torch.trace(cov))) for _ in range(50)]
    assert pf.ratio_db(biased)["ci_lo"] > 1.0


def test_posterior_score_is_the_exact_gaussian_posterior_score():
    """Prior score of the exact Gaussian denoiser at a tiny sigma plus A^T (y - A x) / eta^2 equals the analytic
    posterior score -(P_prior + A^T A / eta^2) x + ... to ~sigma^2."""
    from rwbench.tasks.operators import make_operator

    d, eta = 16, 0.1
    mean, cov = _gaussian(d, seed=7)
    prior = GaussianDenoiser(mean, cov, sample_shape=(1, 4, 4))
    op = make_operator("inpainting", n_images=2, seeds=[3, 3], p=0.5)
    A = op.dense((1, 4, 4))
    g = torch.Generator().manual_seed(8)
    x = _draws(mean, cov, 2, g).reshape(2, 1, 4, 4)
    y = op.A(x) + 0.1
    got = pf.posterior_score(prior, 1e-4, op, y, eta)(x).reshape(2, d)
    flat = x.reshape(2, d)
    want = -(flat - mean) @ torch.linalg.inv(cov) + (y.reshape(2, -1) - flat @ A.T) @ A / eta**2
    assert torch.allclose(got, want, rtol=1e-6, atol=1e-5)


# ------------------------------------------------------------------------------ evaluate and the cross-run tables


@pytest.fixture(scope="module")
def fidelity_tree(tmp_path_factory):
    """Evaluated oracle runs: `simplified` draws exactly from the posterior, `dps` is over-confident (the exact mean
    plus a little noise); the KSD uses the test prior (monkeypatched in for the run's model)."""
    from rwbench.metrics import evaluate as ev
    from rwbench.plan.grid import expand_experiment
    from test_calibration import _config, _prior, _write_oracle_run

    root = tmp_path_factory.mktemp("fidelity")
    config = _config(root, n_targets=8, tasks=["inpaint", "sr"], task_params={"inpaint": {"p": 0.5}, "sr": {"factor": 2}})
    prior = _prior()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(pf, "run_denoiser", lambda spec, device="cpu": prior)
        for spec in expand_experiment(config, "e"):
            spec = dict(spec, n_images=spec["n_targets"] * spec["samples_per_target"], n_shards=1)
            run = _write_oracle_run(root / "runs", spec, prior, monkeypatch,
                                    "exact" if spec["sampler"] == "simplified" else "narrow")
            ev.evaluate_run(run, lpips=False, n_boot=50)
    return root


def test_evaluate_writes_fidelity_rows_and_curves(fidelity_tree):
    import pandas as pd

    from rwbench.metrics import registry
    from rwbench.run import rundir

    runs = sorted((fidelity_tree / "runs").iterdir())
    assert len(runs) == 4
    for run in runs:
        m = rundir.read_metrics_csv(run / rundir.METRICS).set_index("metric")
        for name in registry.names("fidelity"):
            assert np.isfinite(m.loc[name, "value"]), (run.name, name)
        per = pd.read_csv(run / rundir.PER_TARGET)
        assert len(per) == 8 and {"ksd", "ksd_exact_n", "coverage_gap", "mmse_ratio", "energy_distance"} <= set(per)
        assert m.loc["ksd", "value"] == pytest.approx(per["ksd"].mean(), rel=1e-12)
        assert m.loc["ksd", "se"] == pytest.approx(per["ksd"].std(ddof=1) / math.sqrt(8), rel=1e-9)
        assert m.loc["mmse_gap_db", "value"] == pytest.approx(10 * math.log10(per["mmse_ratio"].mean()), rel=1e-12)
        curves = rundir.read_curves(run)
        assert set(curves["basis"]) == {"pixel", "random", "principal"} and set(curves["level"]) == set(pf.LEVELS)
        exact = curves[(curves["against"] == "exact") & (curves["draws"] == "sampler") & (curves["basis"] == "pixel")]
        gap = (exact["coverage"] - exact["reference"]).groupby(exact["target"]).mean()
        np.testing.assert_allclose(gap.sort_index().to_numpy(), per.sort_values("target")["coverage_gap"], atol=1e-12)
        narrow = "__dps__" in run.name
        if narrow:
            # N = 8 draws give 28 pairs per target: the KSD is noisy, but clearly above the exact draws' value
            assert m.loc["coverage_gap", "ci_hi"] < -0.2 and m.loc["ksd", "value"] > m.loc["ksd_exact_n", "ci_hi"]
            assert m.loc["mmse_gap_db", "ci_hi"] < -10      # the exact mean plus a little noise: far below tr Cov / N
        else:    # an exact sampler: calibrated, KSD like that of the exact reference draws, MMSE gap ~ 0 dB
            assert m.loc["coverage_gap", "ci_lo"] < 0 < m.loc["coverage_gap", "ci_hi"]
            assert abs(m.loc["mmse_gap_db", "value"]) < 2
            assert m.loc["ksd", "ci_lo"] < 0 < m.loc["ksd", "ci_hi"]


def test_fidelity_tables_and_validation_columns(fidelity_tree, tmp_path):
    from rwbench.analysis import posterior_fidelity as apf
    from rwbench.figures import posterior_fidelity as fig
    import pandas as pd

    written = apf.build(fidelity_tree / "runs", tmp_path, n_boot=200)
    frames = written.pop("_frames")
    table = pd.read_csv(written["posterior_fidelity"])
    assert len(table) == 4
    assert {"model", "task", "sampler", "nfe", "psnr", "ssim", "coverage_gap", "mmse_gap_db", "ksd", "ksd_se",
            "energy_distance"} <= set(table.columns)
    validation = pd.read_csv(written["ksd_validation"])
    assert {"cells", "spearman", "lo", "hi"} <= set(validation.columns)
    head = validation[validation["scope"] == "all oracle cells"].iloc[0]
    assert head["cells"] == 4 and head["spearman"] > 0.7 and head["lo"] <= head["spearman"] <= head["hi"]
    by = table.groupby("sampler")["ksd"]
    assert by.max()["simplified"] < by.min()["dps"]         # both exact cells rank below both over-confident ones
    claims = frames["claims"]["per_sampler"].set_index("sampler")
    assert claims.loc["simplified", "decision"] == "undecided" and claims.loc["dps", "decision"] == "under-covers"   # 0 inside the interval: not shown calibrated
    paths = fig.build(frames["table"], frames["curves"], frames["validation"], tmp_path / "figures")
    from PIL import Image

    for key in ("calibration_curves", "posterior_fidelity_figure"):
        png = [p for p in paths[key] if p.suffix == ".png"][0]
        assert Image.open(png).size[0] <= 2400
    from rwbench.plan.figures import FIDELITY_FIGURES, plot_files    # what the DAG's rule fidelity declares

    declared = set(plot_files(FIDELITY_FIGURES, str(tmp_path / "figures")).values())
    assert {str(p) for value in paths.values() for p in value} == declared
    assert {str(p) for p in (tmp_path / "figures").iterdir()} == declared
