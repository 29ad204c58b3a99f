"""Calibration against the exact posterior in the DAG (issue 15 items 3, 5): exact-reference draws in the shards,
the <m>_exact_n metrics and metrics-per-target.csv of evaluate, the calibration rows of compare, the figures."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rwbench.analysis import compare as cmp
from rwbench.metrics import intervals as iv
from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.plan.grid import expand_experiment
from rwbench.io import write_json

F64 = torch.float64
ORACLE = {"family": "oracle", "dataset": "digits", "resolution": 4, "channels": 1, "data_range": [0, 1],
          "checkpoint": None, "sigma_min": 0.01, "sigma_max": 8.5}


def _prior(side=4):
    g = torch.Generator().manual_seed(11)
    d = side * side
    means = 0.5 + 0.2 * torch.randn(2, d, generator=g, dtype=F64)
    basis = 0.1 * torch.randn(2, d, 3, generator=g, dtype=F64)
    covs = basis @ basis.transpose(1, 2) + 0.01 * torch.eye(d, dtype=F64)
    return GaussianMixtureDenoiser(torch.tensor([0.4, 0.6], dtype=F64), means, covs, sample_shape=(1, side, side))


def _images(n, side=4):
    return torch.randint(0, 256, (n, 1, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_dag_exact_and_reference_draws_equal_the_benchmarks(monkeypatch):
    """Shards' exact_draw / exact_reference are the benchmark's `exact` / `reference` sets, seed for seed."""
    from rwbench.run import runners as sampling
    from rwbench.tools.bench import posterior as bench
    from rwbench.models.oracle_posterior import gmm_posterior

    prior, seed, task, N, target = _prior(), 3, "inpaint", 4, 2
    monkeypatch.setattr(sampling, "ground_truth_images", lambda spec, targets: _images(5)[torch.as_tensor(targets)])
    spec = {"task": task, "seed": seed, "task_params": {"eta": 0.1, "p": 0.5}, "data_range": (0.0, 1.0),
            "channels": 1, "resolution": 4}
    indices = [target * N + j for j in range(N)]
    inv = sampling.make_inverse(spec, torch.tensor([target] * N), F64)
    got = sampling.exact_posterior(spec, prior, inv, indices)
    one = sampling.make_inverse(spec, torch.tensor([target]), F64)
    post = gmm_posterior(prior, one.operator.dense(prior.sample_shape), one.y[0], 0.1)
    for key, kind in (("exact_draw", "exact"), ("exact_reference", "exact-reference")):
        expected = bench.exact_draws(post, seed, kind, task, target, N)
        assert torch.allclose(got[key], expected, atol=1e-10, rtol=0), key
    assert not torch.allclose(got["exact_draw"], got["exact_reference"])     # independent streams



def test_exact_posterior_per_target_equals_per_image(monkeypatch):
    """The draws of one target share mask and measurement: one posterior per target gives the same exact draws and
    mean as one posterior per image, bit for bit (it is 8x cheaper at 8 draws per target)."""
    from rwbench.run import runners as sampling

    prior, N = _prior(), 3
    monkeypatch.setattr(sampling, "ground_truth_images", lambda spec, targets: _images(5)[torch.as_tensor(targets)])
    spec = {"task": "inpaint", "seed": 1, "task_params": {"eta": 0.1, "p": 0.5}, "data_range": (0.0, 1.0),
            "channels": 1, "resolution": 4}
    targets = torch.tensor([0] * N + [2] * N)
    indices = [int(t) * N + j % N for j, t in enumerate(targets)]
    inv = sampling.make_inverse(spec, targets, F64)
    grouped = sampling.exact_posterior(spec, prior, inv, indices, targets)
    single = sampling.exact_posterior(spec, prior, inv, indices)
    for key in ("exact_mmse", "exact_draw", "exact_reference"):
        assert torch.equal(grouped[key], single[key]), key
    with pytest.raises(ValueError, match="groups"):
        from rwbench.models.oracle_posterior import batch_posteriors

        batch_posteriors(prior, inv.operator, inv.y, inv.eta, groups=[0])

def _write_oracle_run(root, spec, prior, monkeypatch, kind: str):
    """A run folder of an oracle inverse spec whose 'sampler' is `exact` (independent exact posterior draws from a
    third seed) or `narrow` (the exact posterior mean plus a little noise: overconfident)."""
    from rwbench.run import runners as sampling
    from rwbench.data import to_uint8
    from rwbench.models.oracle_posterior import batch_posteriors

    monkeypatch.setattr(sampling, "ground_truth_images", lambda s, targets: _images(16)[torch.as_tensor(targets)])
    spt, n_targets = int(spec["samples_per_target"]), int(spec["n_targets"])
    indices = list(range(spt * n_targets))
    targets = torch.tensor([i // spt for i in indices])
    inv = sampling.make_inverse(spec, targets, F64)
    extras = sampling.exact_posterior(spec, prior, inv, indices)
    posts = batch_posteriors(prior, inv.operator, inv.y, inv.eta)
    if kind == "exact":
        x = torch.cat([q.sample(1, generator=torch.Generator().manual_seed(10_000 + 7 * spec["seed"] + i))
                       for i, q in enumerate(posts)])
    else:
        x = extras["exact_mmse"] + 0.005 * torch.randn(extras["exact_mmse"].shape, dtype=F64,
                                                       generator=torch.Generator().manual_seed(spec["seed"]))
    shard = {"index": torch.tensor(indices), "target": targets, "sample": x.float(),
             "sample_uint8": to_uint8(x.float()), "diverged": torch.zeros(len(indices), dtype=torch.bool),
             "ground_truth": inv.ground_truth.float(), "measurement": inv.y.float(), **{k: v.float() for k, v in extras.items()}}
    run = root / spec["run_id"]
    (run / "shards").mkdir(parents=True)
    write_json(run / "spec.json", spec)
    torch.save(shard, run / "shards" / "shard-00000.pt")
    return run


def _config(tmp_path, **experiment):
    exp = dict(models=["digits-oracle"], samplers=["simplified", "dps"], steps=[10], tasks=["inpaint"], n_targets=12,
               samples_per_target=8, task_params={"inpaint": {"p": 0.5}}, figure="calibration")
    exp.update(experiment)
    return {"results_dir": str(tmp_path), "models": {"digits-oracle": dict(ORACLE)}, "experiments": {"e": exp}}


@pytest.fixture(scope="module")
def oracle_tree(tmp_path_factory):
    """Evaluated runs (and results/metrics.csv): `simplified` samples exactly from the posterior, `dps` is
    overconfident."""
    from rwbench.metrics import evaluate as ev
    from rwbench.metrics.aggregate import aggregate

    root = tmp_path_factory.mktemp("calibration")
    config = _config(root)
    prior = _prior()
    with pytest.MonkeyPatch.context() as monkeypatch:
        for spec in expand_experiment(config, "e"):
            spec = dict(spec, n_images=spec["n_targets"] * spec["samples_per_target"], n_shards=1)
            run = _write_oracle_run(root / "runs", spec, prior, monkeypatch,
                                    "exact" if spec["sampler"] == "simplified" else "narrow")
            ev.evaluate_run(run, lpips=False, n_boot=50, fidelity=False)   # hermetic: no model lookup
    aggregate(sorted((root / "runs").iterdir()), root / "metrics.csv")
    return config, root


@pytest.fixture()
def oracle_runs(oracle_tree):
    return oracle_tree[0]


def test_evaluate_writes_exact_n_metrics_and_the_per_target_table(oracle_runs):
    from rwbench.run import rundir
    from rwbench.metrics.posterior_quality import oracle_quality

    spec = next(s for s in expand_experiment(oracle_runs, "e") if s["sampler"] == "dps")
    run = Path(oracle_runs["results_dir"]) / "runs" / spec["run_id"]
    frame = rundir.read_metrics_csv(run / rundir.METRICS).set_index("metric")
    per = pd.read_csv(run / rundir.PER_TARGET)
    assert len(per) == 12 and list(per["target"]) == list(range(12)) and set(per["n"]) == {8}
    shard = torch.load(run / "shards" / "shard-00000.pt", weights_only=True)
    t = 5
    member = shard["target"] == t
    first = torch.nonzero(member)[0, 0]
    ref = oracle_quality(shard["exact_reference"][member].double(), shard["ground_truth"][first].double(),
                         shard["exact_mmse"][first].double(), shard["exact_draw"][member].double())
    for m in ("coverage", "coverage_of_exact_draws", "psnr_gap_vs_exact_draws", "energy_distance"):
        assert per.loc[t, f"{m}_exact_n"] == pytest.approx(ref[m], abs=1e-12)
        # metrics.csv: the mean over targets with the t interval over the 12 targets (11 df)
        values = per[f"{m}_exact_n"].to_numpy()
        row = frame.loc[f"{m}_exact_n"]
        assert row["value"] == pytest.approx(values.mean(), abs=1e-12)
        assert row["se"] == pytest.approx(values.std(ddof=1) / math.sqrt(12), rel=1e-9)
        assert row["ci_hi"] - row["value"] == pytest.approx(iv.t_quantile(0.95, 11) * row["se"], rel=1e-9)
        assert row["unit"] == frame.loc[m, "unit"] and row["reference"] == "exact_posterior"
        assert frame.loc[m, "value"] == pytest.approx(per[m].mean(), abs=1e-12)
    # an overconfident sampler covers fewer exact draws than N exact draws do
    assert frame.loc["coverage_of_exact_draws", "value"] < frame.loc["coverage_of_exact_draws_exact_n", "value"] - 0.3


def test_calibration_rows_hand_interval_and_an_exact_sampler_is_undecided(oracle_runs):
    from scipy import stats

    from rwbench.run import rundir

    runs_dir = Path(oracle_runs["results_dir"]) / "runs"
    table, notes = cmp.compare(oracle_runs, runs_dir)
    cal = table[table["kind"] == "calibration"]
    assert len(cal) == 2 * len(cmp.CALIBRATION)
    exact = cal[cal["a"] == "simplified"].set_index("metric")
    narrow = cal[cal["a"] == "dps"].set_index("metric")
    assert set(exact.index) == set(cmp.CALIBRATION) and (exact["b"] == "8 exact draws").all()
    assert (exact["decision"] == iv.UNDECIDED).all(), exact[["difference", "ci_lo", "ci_hi"]]
    assert narrow.loc["coverage_of_exact_draws", "decision"] == iv.A_LT_B
    assert narrow.loc["energy_distance", "decision"] == iv.A_GT_B and narrow.loc["energy_distance", "better_arm"] == "b"
    # hand computation: sampler minus exact reference per target, t interval with 11 df
    spec = next(s for s in expand_experiment(oracle_runs, "e") if s["sampler"] == "dps")
    per = pd.read_csv(runs_dir / spec["run_id"] / rundir.PER_TARGET)
    d = (per["coverage"] - per["coverage_exact_n"]).to_numpy()
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    row = narrow.loc["coverage"]
    assert row["difference"] == pytest.approx(d.mean(), abs=1e-12)
    assert (row["ci_lo"], row["ci_hi"]) == (pytest.approx(d.mean() - half, abs=1e-12),
                                            pytest.approx(d.mean() + half, abs=1e-12))
    assert row["method"] == "paired t over 12 (seed x target) clusters, 11 df" and row["n_images"] == 96
    # one BH family: difference and calibration rows together
    decided = table[table["kind"].isin(cmp.DECIDED_KINDS)]
    _, adjusted = iv.benjamini_hochberg(decided["p"].to_numpy(float))
    np.testing.assert_allclose(decided["p_adjusted"].to_numpy(float), adjusted, rtol=1e-12)
    text = cmp.markdown(table, notes)
    assert "8 calibration comparisons" in text and "8 exact draws" in text


def test_calibration_interval_clusters_seed_by_target(tmp_path):
    """Two seeds: one difference per (seed, target) cluster, G - 1 df."""
    from rwbench.run import rundir

    config = _config(tmp_path, samplers=["dps"], seeds=[0, 1], n_targets=3)
    rng = np.random.default_rng(2)
    diffs = []
    for spec in expand_experiment(config, "e"):
        run = tmp_path / "runs" / spec["run_id"]
        run.mkdir(parents=True)
        cov = rng.uniform(0.3, 0.6, 3)
        ref = rng.uniform(0.6, 0.8, 3)
        diffs.append(cov - ref)
        rundir.write_per_target(run, [{"target": t, "n": 8, "coverage": cov[t], "coverage_exact_n": ref[t]}
                                      for t in range(3)])
    (cell,) = cmp.cells_of(expand_experiment(config, "e"))
    got = cmp.calibration_interval(cmp.RunData(tmp_path / "runs"), cell, "coverage", 0.95)
    d = np.concatenate(diffs)
    se = d.std(ddof=1) / math.sqrt(6)
    assert got.estimate == pytest.approx(d.mean(), abs=1e-15) and got.se == pytest.approx(se, rel=1e-12)
    assert got.hi - got.estimate == pytest.approx(2.5705818356363 * se, rel=1e-12)     # t_{0.975, 5} (tables)
    assert got.n == 48 and "6 (seed x target) clusters, 5 df" in got.method
    assert cmp.calibration_interval(cmp.RunData(tmp_path / "runs"), cell, "energy_distance", 0.95) is None


def test_dag_calibration_figure_and_grid(oracle_tree):
    """`rwbench figures --only calibration`: the figure, its table (the metrics.csv values and their exact-draws band)
    and the inverse grid extra; step_scale != 1 runs are left out with a note."""
    from rwbench.figures import runs as figure_runs
    from rwbench.figures.common import read_metrics, run_frame

    config, root = oracle_tree
    written, skipped, notes, _ = figure_runs.build_figures(root / "metrics.csv", root / "runs", root / "tables",
                                                           root / "reports", only=["calibration"], formats=("png",))
    assert not skipped and not notes, (skipped, notes)
    names = sorted(p.name for p in written["calibration"])
    assert names == ["calibration-grid.png", "calibration-inpaint.png", "calibration.csv", "calibration.html",
                     "calibration.md", "calibration.png"]
    assert all(p.stat().st_size > 1000 for p in written["calibration"] if p.suffix == ".png")
    table = pd.read_csv(root / "reports" / "tables" / "calibration.csv")
    runs = run_frame(read_metrics(root / "metrics.csv")).set_index("run_id")
    assert len(table) == 2 * 3 and set(table["eta"]) == {0.2} and set(table["nfe"]) == {10}
    for row in table.itertuples():
        assert row.value == runs.loc[row.run_id, row.metric]
        assert row.ref == runs.loc[row.run_id, row.metric + "_exact_n"]
        assert (row.ref_lo, row.ref_hi) == (runs.loc[row.run_id, row.metric + "_exact_n_ci95_lo"],
                                            runs.loc[row.run_id, row.metric + "_exact_n_ci95_hi"])
        assert row.n == 8 and row.line in ("simplified", "dps")


def test_bench_summary_maps_to_the_same_tidy_frame():
    from rwbench.figures.calibration import TIDY_COLUMNS, tidy_from_bench

    summary = [{"task": "sr", "eta": 0.05, "sampler": "dps", "nfe": 100, "sweep": 1.0, "targets": 4,
                "coverage_of_exact_draws": 0.4, "coverage_of_exact_draws_ci": 0.05, "energy_distance": 0.3,
                "energy_distance_ci": 0.1, "psnr_gap_n": -1.0, "psnr_gap_n_ci": 0.5,
                "ref_coverage_of_exact_draws": 0.72, "ref_coverage_of_exact_draws_ci": 0.02,
                "ref_energy_distance": 0.01, "ref_energy_distance_ci": 0.02},
               dict(task="sr", eta=0.05, sampler="dps", nfe=100, sweep=2.0, coverage_of_exact_draws=0.9)]
    tidy = tidy_from_bench(summary, 1.0, n=8)
    assert list(tidy.columns) == TIDY_COLUMNS and len(tidy) == 3
    tidy = tidy.set_index("metric")
    assert (tidy.loc["coverage_of_exact_draws", ["value", "lo", "hi", "ref", "ref_lo", "ref_hi"]].tolist()
            == pytest.approx([0.4, 0.35, 0.45, 0.72, 0.70, 0.74], abs=1e-15))
    assert tidy.loc["psnr_gap_vs_exact_draws", "ref"] == 0.0 and tidy.loc["energy_distance", "hi"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="sweep factor 3"):
        tidy_from_bench(summary, 3.0)


def test_line_labels_name_only_the_parameters_that_vary_and_sort_in_table_order():
    from rwbench.figures.common import line_labels, line_sort_key

    runs = pd.DataFrame({"eta": [0.05] * 4, "task": ["sr"] * 4, "nfe": [10] * 4,
                         "sampler": ["dps", "dps", "simplified", "mystery"],
                         "params_zeta": [0.5, 1.0, np.nan, np.nan], "params_c": [np.nan, np.nan, 0.7, np.nan],
                         "params_step_scale": [1.0, 2.0, 1.0, 1.0]})     # step_scale is never part of a label
    lines = line_labels(runs)
    assert lines.tolist() == ["dps zeta=0.5", "dps zeta=1", "simplified", "mystery"]
    assert sorted(lines[::-1], key=line_sort_key) == ["simplified", "dps zeta=0.5", "dps zeta=1", "mystery"]


def test_measurement_image_averages_what_each_pixel_enters():
    from rwbench.figures.inverse_grid import measurement_image
    from rwbench.tasks.measure import task_operator

    spec = {"task": "inpaint", "seed": 1, "task_params": {"p": 0.5, "eta": 0.1}, "channels": 1, "resolution": 4,
            "data_range": [-1.0, 1.0]}
    op = task_operator("inpaint", 1, [0], p=0.5)
    x = torch.rand(1, 1, 4, 4, dtype=F64) * 2 - 1
    shown = measurement_image(spec, op.A(x), 0)
    seen = op.AT(op.A(torch.ones_like(x)))[0] > 0
    assert 0 < int(seen.sum()) < 16
    torch.testing.assert_close(shown[seen], ((x[0] + 1) / 2)[seen], rtol=0, atol=1e-12)   # on [0, 1]
    assert (shown[~seen] == 0).all()


def test_grid_rows_hold_target_0_and_step_scale_runs_are_left_out(oracle_tree, tmp_path):
    from rwbench.run import rundir
    from rwbench.figures import runs as figure_runs
    from rwbench.figures.common import Context, read_metrics
    from rwbench.figures.inverse_grid import grid_rows

    config, root = oracle_tree
    ctx = Context(read_metrics(root / "metrics.csv"), root / "runs", root / "tables", tmp_path)
    ((label, imgs),) = grid_rows(ctx, ctx.figure_runs("calibration"))
    assert label == "inpaint\neta=0.2"
    spec = next(s for s in expand_experiment(config, "e") if s["sampler"] == "dps")
    _, data = rundir.load_shards(root / "runs" / spec["run_id"])
    zero = data["target"] == 0
    assert torch.equal(imgs["exact_mean"], data["exact_mmse"][zero][0])
    assert torch.equal(imgs["truth"], data["ground_truth"][zero][0])
    torch.testing.assert_close(imgs["dps/nfe=10/sweep=1.0/mean"], data["sample"][zero].double().mean(0), rtol=0,
                               atol=1e-12)
    assert {k.split("/")[0] for k in imgs if "/" in k} == {"dps", "simplified"}
    # a step_scale sweep cell (axis of the experiment) is left out of the figure, with a note
    table = read_metrics(root / "metrics.csv")
    table["params_step_scale"] = np.where(table["run_id"] == spec["run_id"], 2.0, np.nan)
    table.to_csv(tmp_path / "metrics.csv", index=False)
    written, skipped, notes, _ = figure_runs.build_figures(tmp_path / "metrics.csv", root / "runs", root / "tables",
                                                           tmp_path / "reports", only=["calibration"], formats=("png",))
    assert not skipped and notes == ["calibration: 1 run(s) with step_scale != 1 left out (the figure shows each "
                                     "sampler's published step; the comparisons table holds the sweep)"]
    assert set(pd.read_csv(tmp_path / "reports" / "tables" / "calibration.csv")["line"]) == {"simplified"}
