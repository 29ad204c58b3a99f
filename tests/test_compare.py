"""rwbench.analysis.compare and `rwbench compare`: seeds axis, pairing of cells, which comparisons, intervals, decisions."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rwbench.analysis import compare as cmp
from rwbench.metrics import intervals as iv
from rwbench.plan.grid import expand_experiment
from rwbench.io import write_json

ORACLE = {"family": "oracle", "dataset": "digits", "resolution": 4, "channels": 1, "data_range": [0, 1],
          "checkpoint": None, "sigma_min": 0.01, "sigma_max": 8.5}


def _config(tmp_path, **experiment):
    ref = tmp_path / "ref.safetensors"
    model = dict(ORACLE, reference={"kind": "file", "path": str(ref)})
    exp = dict(models=["digits-oracle"], samplers=["simplified"], schedules=["geometric"], steps=[10], n_images=64)
    exp.update(experiment)
    return {"results_dir": str(tmp_path), "models": {"digits-oracle": model}, "experiments": {"e": exp}}


def test_seeds_axis_expands_replicate_runs():
    config = {"models": {"m": dict(ORACLE)},
              "experiments": {"e": {"models": ["m"], "samplers": ["simplified"], "TK": [0.2, 1.0], "seeds": [3, 5]}}}
    specs = expand_experiment(config, "e")
    assert len(specs) == 4
    assert sorted((s["params"]["TK"], s["seed"]) for s in specs) == [(0.2, 3), (0.2, 5), (1.0, 3), (1.0, 5)]
    assert all(s["run_id"].endswith(f"__s{s['seed']}") for s in specs)
    assert len(cmp.cells_of(specs)) == 2 and all(len(c.specs) == 2 for c in cmp.cells_of(specs))
    config["experiments"]["e"]["seeds"] = [1, 1]
    with pytest.raises(ValueError, match="repeat"):
        expand_experiment(config, "e")


def test_compared_cells_share_per_image_noise_and_measurements():
    """Cells of one experiment that a figure compares draw image i's x_T, masks and measurement noise alike."""
    from rwbench.run.runners import initial_noise, make_inverse

    model = {"family": "vp", "dataset": "digits", "resolution": 16, "channels": 1, "data_range": [-1, 1],
             "checkpoint": None, "sigma_min": 0.01, "sigma_max": 80.0}
    config = {"models": {"m": model}, "experiments": {"inv": {
        "models": ["m"], "samplers": ["simplified", "dps"], "TK": [0.2, 1.0], "tasks": ["inpaint"], "n_targets": 2,
        "samples_per_target": 2, "steps": [10]}}}
    specs = expand_experiment(config, "inv")
    assert len(specs) == 3    # dps has no TK axis
    idx = [0, 1, 2, 3]
    noises = [initial_noise(s, idx)[0] for s in specs]
    targets = torch.tensor([i // 2 for i in idx])
    invs = [make_inverse(s, targets, torch.float64) for s in specs]
    for noise, inv in zip(noises[1:], invs[1:]):
        assert torch.equal(noise, noises[0])
        assert torch.equal(inv.y, invs[0].y)
    assert not torch.equal(noises[0][0], noises[0][1])          # images differ from each other
    other = copy.deepcopy(specs[0])
    other["seed"] = 1
    assert not torch.equal(initial_noise(other, idx)[0], noises[0])


def test_which_comparisons_sweep_and_reference_sampler():
    config = {"models": {"m": dict(ORACLE)}, "experiments": {"e": {
        "models": ["m"], "samplers": ["simplified", "native-ddpm", "native-ve-sde"], "TK": [0.2, 0.6, 1.0],
        "schedules": ["geometric"], "reference_sampler": "native-ddpm"}}}
    exp = config["experiments"]["e"]
    cells = cmp.cells_of(expand_experiment(config, "e"))
    sweeps = cmp.sweep_pairs(exp, cells)
    assert [(a.key["TK"], b.key["TK"]) for _, a, b in sweeps] == [(0.2, 0.6), (0.6, 1.0)]
    samplers = cmp.sampler_pairs(exp, cells)
    assert sorted((a.key["sampler"], b.key["sampler"]) for _, a, b in samplers) == \
        [("native-ve-sde", "native-ddpm")] + [("simplified", "native-ddpm")] * 3
    exp["reference_sampler"] = "dps"
    with pytest.raises(ValueError, match="reference_sampler"):
        cmp.sampler_pairs(exp, cells)


def test_samplers_with_nfe_budgets_pair_at_equal_budget():
    config = {"models": {"m": dict(ORACLE)}, "experiments": {"e": {
        "models": ["m"], "samplers": ["heun", "euler"], "nfe": [10, 50], "reference_sampler": "euler"}}}
    exp = config["experiments"]["e"]
    cells = cmp.cells_of(expand_experiment(config, "e"))
    pairs = cmp.sampler_pairs(exp, cells)
    got = sorted((a.key["steps"], a.specs[0]["nfe"], b.key["steps"], b.specs[0]["nfe"]) for _, a, b in pairs)
    assert got == [(5, 9, 10, 10), (25, 49, 50, 50)]        # Heun 2K - 1 within the budget vs Euler K = budget


def test_energy_arm_resample_equals_direct_energy_distance():
    from rwbench.metrics.distances import energy_distance, energy_parts

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 5)), rng.normal(0.3, 1.0, size=(40, 5))
    arm = cmp.energy_arm(np.arange(30), *energy_parts(torch.tensor(x), torch.tensor(y)))
    assert arm.value() == pytest.approx(energy_distance(torch.tensor(x), torch.tensor(y)), abs=1e-12)
    rows = np.array([0, 0, 3, 7, 7, 7, 9])           # duplicates: self-pairs left out of the within term
    distinct = np.unique(rows)
    w = np.bincount(rows, minlength=30).astype(float)
    xx = sum(w[i] * w[j] * np.linalg.norm(x[i] - x[j]) for i in distinct for j in distinct if i != j)
    xx /= (w.sum() ** 2 - (w ** 2).sum())
    xy = sum(w[i] * np.linalg.norm(x[i] - y, axis=1).mean() for i in distinct) / w.sum()
    cyy = np.mean([np.linalg.norm(y[i] - y[j]) for i in range(40) for j in range(40) if i != j])
    assert arm.value(rows) == pytest.approx(2 * xy - xx - cyy, abs=1e-12)


def _write_runs(tmp_path, config, shift: dict):
    """Fake oracle runs: image i of every cell = common per-image noise + the cell's shift (paired by index), with
    the features.safetensors evaluate writes (features, energy parts, log density)."""
    from rwbench.run import rundir
    from rwbench.metrics.distances import energy_parts

    rng = np.random.default_rng(0)
    ref = torch.from_numpy(rng.normal(0.5, 0.12, size=(400, 16)).clip(0, 1))
    from safetensors.torch import save_file

    save_file({"images": (ref * 255).round().to(torch.uint8).reshape(400, 1, 4, 4)}, str(tmp_path / "ref.safetensors"))
    for name in config["experiments"]:
        for spec in expand_experiment(config, name):
            run = tmp_path / "runs" / spec["run_id"]
            run.mkdir(parents=True)
            (run / "metrics.csv").write_text("run_id,metric,value\n")   # evaluated: compare reads these runs
            write_json(run / "spec.json", spec)
            g = np.random.default_rng(1000 + spec["seed"])
            x = torch.from_numpy((g.normal(0.5, 0.12, size=(spec["n_images"], 16))
                                  + shift.get(spec["params"]["TK"], 0.0)).clip(0, 1))
            cross, within, yy = energy_parts(x, ref)
            u8 = (x * 255).round().to(torch.uint8).reshape(len(x), 1, 4, 4)
            rundir.save_torch({"index": torch.arange(len(x)), "sample": x.float().reshape(len(x), 1, 4, 4),
                               "sample_uint8": u8, "diverged": torch.zeros(len(x), dtype=torch.bool)},
                              run / "shards" / "shard-00000.pt")
            rundir.write_features(run, {"index": torch.arange(len(x)), "features": x, "energy_cross": cross,
                                        "energy_within": within, "log_density": -((x - 0.5) ** 2).sum(1)},
                                  {"energy_yy": repr(yy), "logp_mean": "0.0"})
    return ref


def test_compare_decides_a_real_difference_and_not_a_null_one(tmp_path):
    config = _config(tmp_path, TK=[0.2, 0.6, 1.0], seeds=[0, 1], contrasts=[{"a": {"TK": 0.2}, "b": {"TK": 1.0}}],
                     equivalence=[{"a": {"TK": 0.6}, "b": {"TK": 1.0}, "metric": "energy_distance", "margin": 0.05}])
    _write_runs(tmp_path, config, {0.2: 0.15})            # TK = 0.6 and 1.0: identical images, TK = 0.2 shifted
    table, notes = cmp.compare(config, tmp_path / "runs", options={"n_boot": 200},
                               reference_cache=tmp_path / "no-cache")
    contrast = table[table["axis"] == "contrast"].iloc[0]
    assert (contrast["a"], contrast["b"], contrast["decision"]) == ("TK=0.2", "TK=1.0", iv.A_GT_B)
    diff = table[(table["kind"] == "difference") & (table["axis"] != "contrast")].set_index("a")
    assert list(diff["metric"].unique()) == ["energy_distance", "logp_gap"]   # fid, kid: no reference statistics
    assert any("fid" in n for n in notes)
    diff = diff[diff["metric"] == "energy_distance"]
    first = diff.loc["TK=0.2"]
    assert first["decision"] == iv.A_GT_B and first["better_arm"] == "b" and first["n_seeds"] == 2
    second = diff.loc["TK=0.6"]
    assert second["difference"] == 0.0 and second["decision"] == iv.UNDECIDED
    eq = table[table["kind"] == "equivalence"].iloc[0]
    # identical arms: the difference is 0 with a zero variance estimate, which is undecidable (not "equivalent")
    assert eq["equivalence"] == iv.NOT_EQUIVALENT and eq["level"] == 0.90 and "undecidable" in eq["method"]
    paths = cmp.write(table, notes, tmp_path / "reports")
    text = paths[1].read_text()
    assert "6 difference comparisons" in text and "energy distance to exact draws" in text
    assert pd.read_csv(paths[0]).shape[0] == len(table)
    page = paths[2].read_text()                            # the HTML view the report shows inline
    assert paths[2].name == "comparisons.html" and "6 difference comparisons" in page and "<table" in page


def test_equivalence_claim_must_match_cells(tmp_path):
    config = _config(tmp_path, TK=[0.2, 1.0], equivalence=[{"a": {"TK": 0.4}, "b": {"TK": 1.0},
                                                             "metric": "energy_distance", "margin": 0.1}])
    _write_runs(tmp_path, config, {})
    with pytest.raises(ValueError, match="no pair of cells"):
        cmp.compare(config, tmp_path / "runs", options={"n_boot": 20})


def test_inverse_comparison_clusters_by_target(tmp_path):
    config = _config(tmp_path, samplers=["simplified", "dps"], reference_sampler="dps", tasks=["inpaint"],
                     n_targets=4, samples_per_target=8)
    rng = np.random.default_rng(3)
    effect = np.repeat(rng.normal(0, 2.0, 4), 8)            # target effect shared by both samplers (paired)
    for spec in expand_experiment(config, "e"):
        run = tmp_path / "runs" / spec["run_id"]
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text("run_id,metric,value\n")
        write_json(run / "spec.json", spec)
        bump = 1.0 if spec["sampler"] == "simplified" else 0.0
        pd.DataFrame({"index": np.arange(32), "target": np.arange(32) // 8, "diverged": False,
                      "psnr": 20 + effect + bump + rng.normal(0, 0.3, 32),
                      "ssim": 0.5 + rng.normal(0, 0.01, 32)}).to_csv(run / "metrics-per-image.csv", index=False)
    table, _ = cmp.compare(config, tmp_path / "runs")
    row = table.set_index("metric").loc["psnr"]
    assert row["method"].startswith("cluster t (4 targets, 3 df)")
    # PSNR is accuracy, not posterior fidelity: decided, but never "better" on its own
    assert row["decision"] == iv.A_GT_B and row["better_arm"] == "-" and row["n_images"] == 32


def test_fid_comparison_uses_the_one_fid_path(tmp_path, monkeypatch):
    """FID / KID differences re-score both arms with rwbench.metrics.fidelity.SetMetrics on one shared resample."""
    from rwbench.metrics.fidelity import SetMetrics, reference_from_features

    config = _config(tmp_path, TK=[0.2, 1.0], compare_metrics=["fid", "kid"])
    ref = _write_runs(tmp_path, config, {0.2: 0.1})
    reference = reference_from_features(ref)
    monkeypatch.setattr(cmp.RunData, "reference", lambda self, spec: reference)
    table, notes = cmp.compare(config, tmp_path / "runs", options={"n_boot": 100})
    row = table.set_index("metric").loc["fid"]
    specs = {s["params"]["TK"]: s for s in expand_experiment(config, "e")}
    from rwbench.run import rundir

    fa = rundir.read_features(tmp_path / "runs" / specs[0.2]["run_id"])[0]["features"]
    fb = rundir.read_features(tmp_path / "runs" / specs[1.0]["run_id"])[0]["features"]
    direct = SetMetrics(fa, reference).fid() - SetMetrics(fb, reference).fid()
    assert row["difference"] == pytest.approx(direct, rel=1e-12)
    # the interval excludes 0, but FID / KID difference intervals failed the coverage simulation: never decided
    assert row["ci_lo"] > 0 and row["decision"] == iv.UNDECIDED and "not decided" in row["method"]
    assert set(table["metric"]) == {"fid", "kid"}
    data = cmp.RunData(tmp_path / "runs")
    data.reference = lambda spec: reference
    rows = np.random.default_rng(1).integers(0, 64, size=(70, 64))
    rows[0] = 5                                            # one distinct image: KID undefined (NaN), FID defined
    for metric in ("fid", "kid"):                          # batched replicates (SetMetrics.replicates) = row by row
        arm = data.arm(specs[0.2], metric)
        assert arm.scores is not None
        expected = np.array([arm.value(r) for r in rows])
        np.testing.assert_allclose(arm.values(rows), expected, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_three_seeds_pool_within_seed_u_statistic_variances(tmp_path):
    """No t over a few seeds' spread: each seed's paired energy difference with its unbiased U-statistic variance
    (rwbench.metrics.ustat.energy_difference on the runs' uint8 samples against the reference images), pooled over
    seeds by their within-seed variances (rwbench.metrics.ustat.pooled)."""
    from rwbench.metrics import ustat

    config = _config(tmp_path, TK=[0.2, 1.0], seeds=[0, 1, 2], compare_metrics=["energy_distance"])
    _write_runs(tmp_path, config, {0.2: 0.05})
    table, _ = cmp.compare(config, tmp_path / "runs", options={"n_boot": 50})
    row = table.iloc[0]
    assert "U-statistic variance" in row["method"] and row["n_images"] == 3 * 64
    data = cmp.RunData(tmp_path / "runs")
    cells = cmp.cells_of(expand_experiment(config, "e"))
    got = [ustat.energy_difference(data.pixels(a)[1], data.pixels(b)[1], data.reference_pixels(a))
           for a, b in zip(cells[0].specs, cells[1].specs)]
    pooled = ustat.pooled([g.estimate for g in got], [g.se for g in got])
    assert row["difference"] == pytest.approx(pooled.estimate, abs=1e-12)
    assert (row["ci_lo"], row["ci_hi"]) == (pytest.approx(pooled.lo, abs=1e-12), pytest.approx(pooled.hi, abs=1e-12))


def test_pilot_energy_matches_the_energy_distance():
    from rwbench.tools.bench.pilot import energy
    from rwbench.metrics.distances import energy_distance, mean_pairwise_distance

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (20, 1, 4, 4), generator=g, dtype=torch.uint8)
    ref = torch.rand(30, 1, 4, 4, generator=g, dtype=torch.float64)
    direct = energy_distance(x.double().div(255), ref)
    assert energy(x, ref, mean_pairwise_distance(ref)) == pytest.approx(direct, abs=1e-12)


def test_claims_over_missing_runs_are_notes_not_errors(tmp_path):
    import shutil

    config = _config(tmp_path, TK=[0.2, 1.0], equivalence=[{"a": {"TK": 0.2}, "b": {"TK": 1.0},
                                                             "metric": "energy_distance", "margin": 0.1}])
    _write_runs(tmp_path, config, {})
    gone = next(s for s in expand_experiment(config, "e") if s["params"]["TK"] == 0.2)
    shutil.rmtree(tmp_path / "runs" / gone["run_id"])
    table, notes = cmp.compare(config, tmp_path / "runs", options={"n_boot": 20})
    assert table.empty and any("runs missing" in n for n in notes)


def test_compare_command_writes_the_tables(tmp_path, capsys):
    import yaml

    from rwbench import cli

    config = _config(tmp_path, TK=[0.2, 1.0], contrasts=[{"a": {"TK": 0.2}, "b": {"TK": 1.0}}])
    _write_runs(tmp_path, config, {0.2: 0.15})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(dict(config, compare={"n_boot": 100})))
    assert cli.main(["compare", "--config", str(path), "--out", str(tmp_path / "reports"),
                     "--reference-cache", str(tmp_path / "no-cache")]) == 0
    out = capsys.readouterr().out
    # the contrast TK 0.2 vs 1 is the sweep's own pair: one row per identical comparison
    assert out.startswith("comparisons: 2 differences (") and "note e:" in out     # fid / kid: no reference statistics
    table = pd.read_csv(tmp_path / "reports" / "tables" / "comparisons.csv")
    assert len(table) == 2 and set(table["metric"]) == {"energy_distance", "logp_gap"}
    assert (table["family"] == "exploratory").all()
    assert (tmp_path / "reports" / "tables" / "comparisons.html").is_file()


def test_inverse_cells_pair_only_within_one_dataset_and_reference():
    faces = dict(ORACLE, dataset="faces", reference={"kind": "file", "path": "faces.pt"})
    digits = dict(ORACLE, reference={"kind": "file", "path": "digits.pt"})
    config = {"models": {"d": digits, "f": faces, "d2": dict(digits)},
              "experiments": {"e": {"models": ["d", "f", "d2"], "samplers": ["simplified"], "steps": [10],
                                    "tasks": ["inpaint"], "n_targets": 2, "samples_per_target": 2}}}
    cells = cmp.cells_of(expand_experiment(config, "e"))
    pairs = [(a.key["model"], b.key["model"]) for _, a, b in cmp.sweep_pairs(config["experiments"]["e"], cells)]
    assert pairs == []              # d vs f: other dataset; f vs d2: other dataset (neighbours in config order)
    config["experiments"]["e"]["models"] = ["d", "d2"]
    cells = cmp.cells_of(expand_experiment(config, "e"))
    assert [(a.key["model"], b.key["model"]) for _, a, b in cmp.sweep_pairs(config["experiments"]["e"], cells)] \
        == [("d", "d2")]


def test_identical_cells_of_two_experiments_are_one_row():
    config = {"models": {"m": dict(ORACLE, reference={"kind": "file", "path": "r.pt"})},
              "experiments": {name: {"models": ["m"], "samplers": ["simplified"], "TK": [0.2, 1.0], "figure": fig}
                              for name, fig in (("x", "temperature"), ("y", "none"))}}
    rows = []
    for name in ("x", "y"):
        cells = cmp.cells_of(expand_experiment(config, name))
        a, b = cells
        rows.append({"experiment": name, "figure": config["experiments"][name]["figure"], "kind": "difference",
                     "metric": "energy_distance", "a_runs": a.specs[0]["run_id"], "b_runs": b.specs[0]["run_id"]})
    import rwbench.plan.grid as grid

    calls = []
    real = grid.expand
    grid.expand = lambda c: calls.append(1) or real(c)
    try:
        merged = cmp.merge_identical(rows, config)
    finally:
        grid.expand = real
    assert len(merged) == 1 and merged[0]["experiment"] == "x;y" and merged[0]["figure"] == "temperature;none"
    assert len(calls) == 1          # the grid is expanded once for all rows (it was once per row and arm)


def test_an_arm_scores_each_resample_once():
    """A run's arm serves every comparison it is in: a resample it has scored is not scored again (the same values)."""
    scored = []

    def scores(counts):
        scored.append(len(counts))
        return counts @ np.arange(5.0) / counts.sum(1)

    arm = cmp.Arm(np.arange(5), lambda c: 2.0 if c is None else float(c @ np.arange(5.0) / c.sum()), 5, scores)
    rows = np.random.default_rng(0).integers(0, 5, size=(7, 5))
    first = arm.values(rows)
    first[0] = -1.0                                     # the caller's copy: the memo stays intact
    again = arm.values(rows)
    assert scored == [7] and again[0] != -1.0
    assert np.array_equal(again[1:], first[1:])
    np.testing.assert_allclose(again, [arm.value(r) for r in rows], rtol=1e-12)
    arm.values(rows[:3])                                # another resample set is scored
    assert scored == [7, 3]
