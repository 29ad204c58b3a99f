"""`rwbench figures` on a tiny synthetic results tree (docs/run-layout.md): every figure is written and its tables
hold exactly the numbers of the inputs."""

import argparse
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rwbench.tools.equivalence import equivalence_table, synthetic_mixture
from rwbench.tools.schedule_table import schedule_table
from rwbench.data import to_uint8
from rwbench.commands import figures as cli
from rwbench.figures import FIGURES, runs as figure_runs
from rwbench.figures.common import image_grid
from rwbench.io import write_json
from rwbench.metrics.aggregate import aggregate
from rwbench.metrics.evaluate import COLUMNS

RES = 8


def spec(run_id, figure, **kw):
    base = {"run_id": run_id, "experiment": figure, "figure": figure, "model": "digits-vp", "family": "vp",
            "dataset": "digits", "resolution": RES, "channels": 1, "data_range": [-1.0, 1.0], "sampler": "simplified",
            "sampler_kind": "template", "schedule": "geometric", "steps": 10, "nfe": 10,
            "params": {"c": 0.5, "T0": 0.4, "TK": 1.0}, "task": "uncond", "task_params": {}, "seed": 0,
            "n_images": 4, "n_targets": 0, "samples_per_target": 1, "shard_size": 4, "n_shards": 1,
            "reference": {"kind": "dataset", "dataset": "digits", "split": "test", "resolution": RES}}
    base.update(kw)
    return base


def write_run(root, s, metrics, shards):
    run_dir = root / "runs" / s["run_id"]
    write_json(run_dir / "spec.json", s)
    for i, shard in enumerate(shards):
        (run_dir / "shards").mkdir(parents=True, exist_ok=True)
        torch.save(shard, run_dir / "shards" / f"shard-{i:05d}.pt")
    rows = [{"run_id": s["run_id"], "metric": m, "value": v, "n": 4, "reference": "", "extractor": "", "conversion": ""}
            for m, v in metrics.items()]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(run_dir / "metrics.csv", index=False)
    return run_dir


def uncond_shard(seed, n=4):
    g = torch.Generator().manual_seed(seed)
    sample = torch.rand(n, 1, RES, RES, generator=g)
    return {"index": torch.arange(n), "target": torch.arange(n), "sample": sample, "sample_uint8": to_uint8(sample),
            "diverged": torch.zeros(n, dtype=torch.bool)}


def inverse_shards(seed, task, n_targets=2, spt=4, shard_size=4):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(n_targets, 1, RES, RES, generator=g)
    n = n_targets * spt
    index = torch.arange(n)
    target = index // spt
    sample = (gt[target] + 0.1 * torch.randn(n, 1, RES, RES, generator=g)).float()
    if task == "sr":  # low-res measurement on the model's [-1, 1] scale
        y = gt.reshape(n_targets, 1, RES // 2, 2, RES // 2, 2).mean((3, 5)) * 2 - 1
    else:
        y = gt * (torch.rand(n_targets, 1, RES, RES, generator=g) > 0.5) * 2 - 1
    full = {"index": index, "target": target, "sample": sample, "sample_uint8": to_uint8(sample),
            "diverged": torch.zeros(n, dtype=torch.bool), "ground_truth": gt[target], "measurement": y[target].float()}
    return [{k: v[i:i + shard_size] for k, v in full.items()} for i in range(0, n, shard_size)], full


def unconditional_metrics(fid, **extra):
    return {"fid": fid, "fid_ci95_lo": fid - 1.0, "fid_ci95_hi": fid + 2.0, "kid_mean": fid / 1000, "kid_std": fid / 10000,
            "confident_share": 1 / (1 + fid),
            "class_entropy": 2.0, "diverged_fraction": 0.0, **extra}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    dirs, expected = [], {}
    seed = 0

    def add(s, metrics, shards=None):
        nonlocal seed
        seed += 1
        dirs.append(write_run(root, s, metrics, shards if shards is not None else [uncond_shard(seed)]))
        expected[s["run_id"]] = (s, metrics)

    for sched, fid in (("pretrained", 31.0), ("sigmoid", 12.5)):
        add(spec(f"sch-{sched}", "schedules", schedule=sched), unconditional_metrics(fid))
    add(spec("vv-ve", "ve-vs-vp", model="digits-ve", family="ve", data_range=[0.0, 1.0]), unconditional_metrics(20.0))
    add(spec("vv-vp", "ve-vs-vp"), unconditional_metrics(25.0))
    for T0, TK, fid in ((0.4, 0.2, 40.0), (0.4, 1.0, 10.0), (0.1, 1.0, 11.0)):
        add(spec(f"tmp-{T0}-{TK}", "temperature", model="digits-oracle", family="oracle", data_range=[0.0, 1.0],
                 params={"c": 0.5, "T0": T0, "TK": TK}), unconditional_metrics(fid))
    for sampler, nfe, fid in (("simplified", 10, 30.0), ("simplified", 20, 15.0), ("native-ddpm", 10, 50.0),
                              ("native-ddpm", 20, 22.0)):
        add(spec(f"nfe-{sampler}-{nfe}", "nfe", sampler=sampler, nfe=nfe, steps=nfe), unconditional_metrics(fid))
    add(spec("nfe-heun-oracle", "nfe", sampler="heun", sampler_kind="solver", model="digits-oracle", family="oracle",
             data_range=[0.0, 1.0], schedule="karras", nfe=19, steps=10, params={}),
        unconditional_metrics(12.0, energy_distance=0.5, energy_distance_ci95_lo=0.4, energy_distance_ci95_hi=0.7))
    add(spec("nfe-ncsn-5", "nfe", sampler="native-ncsn", nfe=5, steps=5),
        unconditional_metrics(math.nan, diverged_fraction=1.0, diverged=1.0, kid_mean=math.nan, kid_std=math.nan))
    for fam in ("vp", "ve", "iadb", "oracle"):
        for sampler, fid in (("simplified", 10.0), ("iadb", 20.0)):
            if fam == "ve" and sampler == "iadb":
                add(spec(f"x-{fam}-{sampler}", "cross", family=fam, model=f"digits-{fam}", sampler=sampler),
                    unconditional_metrics(math.nan, diverged_fraction=0.75, diverged=1.0))
            else:
                add(spec(f"x-{fam}-{sampler}", "cross", family=fam, model=f"digits-{fam}", sampler=sampler),
                    unconditional_metrics(fid + len(fam)))
    add(spec("x-vp-simplified-b", "cross", sampler="simplified", schedule="sigmoid"), unconditional_metrics(3.0))
    inverse = {}
    for task in ("inpaint", "sr"):
        shards, full = inverse_shards(len(task), task)
        s = spec(f"inv-{task}", "inverse", task=task, n_targets=2, samples_per_target=4, n_images=8, n_shards=2,
                 task_params={"eta": 0.2})
        add(s, {"psnr": 20.0, "diverged_fraction": 0.0}, shards)
        inverse[task] = full
    for task in ("inpaint", "sr"):
        for sampler, cov in (("simplified", 0.88), ("dps", 0.4)):
            add(spec(f"post-{task}-{sampler}", "posterior", model="faces-oracle", family="oracle", sampler=sampler,
                     task=task, data_range=[0.0, 1.0], samples_per_target=16, n_targets=4),
                {"coverage": cov, "coverage_se": 0.01, "coverage_of_exact_draws": cov - 0.05, "psnr_gap": -cov,
                 "level": 0.9, "diverged_fraction": 0.0})
    metrics_path = root / "metrics.csv"
    aggregate(dirs, metrics_path)
    tables = root / "tables"
    tables.mkdir()
    sched = schedule_table(["vp_pretrained", "sigmoid", "karras"], [12, 20])
    sched.to_csv(tables / "schedules.csv", index=False)
    equiv = equivalence_table(synthetic_mixture(0), steps=10, batch=2, progress=False)
    equiv.to_csv(tables / "equivalence.csv", index=False)
    return {"root": root, "out": root / "reports", "expected": expected, "inverse": inverse, "sched": sched,
            "equiv": equiv, "metrics": metrics_path, "tables": tables}


def build(tree, name, stems, tables=None):
    """Build one figure with both formats; check its PNG/PDF files and tables exist; return its tables."""
    written, skipped, notes, runs_files = figure_runs.build_figures(tree["metrics"], tree["root"] / "runs", tree["tables"],
                                                            tree["out"], only=[name], formats=("png", "pdf"))
    assert not skipped and not notes, (skipped, notes)
    figs, tabs = tree["out"] / "figures", tree["out"] / "tables"
    for stem in stems:
        png, pdf = (figs / f"{stem}.png").read_bytes(), (figs / f"{stem}.pdf").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000, stem
        assert pdf[:5] == b"%PDF-", stem
        assert figs / f"{stem}.png" in written[name] and figs / f"{stem}.pdf" in written[name]
    out = {}
    for stem in (stems if tables is None else tables):
        assert (tabs / f"{stem}.md").read_text().startswith("|"), stem
        out[stem] = pd.read_csv(tabs / f"{stem}.csv")
    assert not list(figs.glob(".*")) and not list(tabs.glob(".*"))  # atomic writes leave no temp files
    assert runs_files == []  # the run table is its own target (--only runs)
    return out


def test_schedules_figure_ladders_and_samples(tree):
    out = build(tree, "schedules", ["schedules", "schedules-samples"])
    pd.testing.assert_frame_equal(out["schedules"], tree["sched"], check_exact=True)
    md = (tree["out"] / "tables" / "schedules.md").read_text()
    assert "vp_pretrained" in md and len(md.splitlines()) == 2 + 3 * (11 + 11)  # header + 11 rows per ladder and K
    samples = out["schedules-samples"].set_index("run_id")
    assert samples.loc["sch-sigmoid", "fid"] == 12.5 and samples.loc["sch-pretrained", "kid_mean"] == 31.0 / 1000
    assert samples.loc["sch-sigmoid", "params_c"] == 0.5


def test_ve_vs_vp_figure(tree):
    vv = build(tree, "ve-vs-vp", ["ve-vs-vp"])["ve-vs-vp"]
    assert list(vv["family"]) == ["ve", "vp"] and list(vv["fid"]) == [20.0, 25.0]
    assert list(vv["class_entropy"]) == [2.0, 2.0]


def test_temperature_figure(tree):
    temp = build(tree, "temperature", ["temperature", "temperature-samples"], ["temperature"])["temperature"]
    temp = temp.set_index("run_id")
    exp = tree["expected"]
    assert len(temp) == 3
    for rid in temp.index:
        assert temp.loc[rid, "fid"] == exp[rid][1]["fid"]
        assert temp.loc[rid, "params_TK"] == exp[rid][0]["params"]["TK"]
        assert temp.loc[rid, "params_T0"] == exp[rid][0]["params"]["T0"]
        assert temp.loc[rid, "confident_share"] == pytest.approx(exp[rid][1]["confident_share"], rel=1e-15)
        assert temp.loc[rid, "fid_ci95_hi"] == exp[rid][1]["fid"] + 2.0     # the interval drawn as error bar


def test_nfe_interval_uses_the_ci_columns():
    from rwbench.figures.nfe import curve_labels, interval, sparse_ticks

    assert sparse_ticks([20, 19, 9, 10, 50, 49, 100]) == [9, 19, 49, 100]

    part = pd.DataFrame({"energy_distance": [0.5, 0.2], "energy_distance_ci95_lo": [0.4, 0.1],
                         "energy_distance_ci95_hi": [0.7, 0.25], "kid_mean": [1.0, 2.0], "kid_std": [0.1, 0.3]})
    np.testing.assert_allclose(interval(part, "energy_distance"), [[0.1, 0.1], [0.2, 0.05]], rtol=1e-12)
    assert interval(part, "kid_mean") is None                 # no interval columns: no error bars (no kid_std)
    part["kid_mean_se"] = [0.1, 0.2]                           # else +- 1.96 se
    np.testing.assert_allclose(interval(part, "kid_mean"), [[0.196, 0.392], [0.196, 0.392]], rtol=1e-12)
    runs = pd.DataFrame({"model": ["a", "b"], "sampler": ["euler-ancestral", "euler"], "schedule": ["karras"] * 2,
                         "params_ancestral_eta": [0.5, np.nan]})
    assert list(curve_labels(runs)) == ["a: euler-ancestral eta=0.5 / karras", "b: euler / karras"]


def test_nfe_figure(tree):
    nfe = build(tree, "nfe", ["nfe"])["nfe"].set_index("run_id")
    assert len(nfe) == 6 and nfe.loc["nfe-simplified-20", "fid"] == 15.0 and nfe.loc["nfe-native-ddpm-10", "nfe"] == 10
    heun = nfe.loc["nfe-heun-oracle"]
    assert (heun["nfe"], heun["energy_distance"], heun["energy_distance_ci95_lo"], heun["energy_distance_ci95_hi"]) == \
        (19, 0.5, 0.4, 0.7)
    assert nfe["energy_distance"].drop("nfe-heun-oracle").isna().all()
    assert nfe.loc["nfe-native-ddpm-20", "fid_ci95_lo"] == 21.0          # the interval drawn as error bar
    assert bool(nfe.loc["nfe-ncsn-5", "diverged_run"]) and math.isnan(nfe.loc["nfe-ncsn-5", "fid"])
    assert not nfe.drop("nfe-ncsn-5")["diverged_run"].any()


def test_cross_figure_picks_the_best_run_and_marks_divergence(tree):
    cells = build(tree, "cross", ["cross"])["cross"].set_index(["family", "sampler"])
    assert cells.loc[("vp", "simplified"), "fid"] == 3.0  # the better of two vp/simplified runs
    assert cells.loc[("vp", "simplified"), "run_id"] == "x-vp-simplified-b"
    assert cells.loc[("vp", "simplified"), "n_runs"] == 2
    assert cells.loc[("oracle", "iadb"), "fid"] == 26.0
    assert bool(cells.loc[("ve", "iadb"), "diverged"]) and math.isnan(cells.loc[("ve", "iadb"), "fid"])
    assert cells.loc[("iadb", "simplified"), "confident_share"] == pytest.approx(1 / 15.0, rel=1e-15)
    assert len(cells) == 8 and cells["diverged"].sum() == 1


def test_posterior_figure(tree):
    post = build(tree, "posterior", ["posterior"])["posterior"].set_index("run_id")
    assert len(post) == 4
    assert post.loc["post-sr-dps", "coverage"] == 0.4 and post.loc["post-inpaint-simplified", "psnr_gap"] == -0.88
    assert post.loc["post-sr-dps", "coverage_of_exact_draws"] == pytest.approx(0.35, rel=1e-15)
    assert (post["coverage_se"] == 0.01).all()
    assert (post["level"] == 0.9).all() and (post["level_source"] == "metrics").all()
    # reference line: what 16 exact posterior draws cover at the 0.9 level with the same quantile rule, not 0.9
    assert np.allclose(post["coverage_reference"], 0.805, atol=0.01)


def test_equivalence_figure(tree):
    eq = build(tree, "equivalence", ["equivalence"])["equivalence"].set_index("pair")
    for pair, part in tree["equiv"].groupby("pair"):
        assert eq.loc[pair, "max_rel_dev"] == part["max_rel_dev"].max()
        assert eq.loc[pair, "max_abs_dev"] == part["max_abs_dev"].max()
        assert eq.loc[pair, "final_abs_dev"] == part["max_abs_dev"].iloc[-1]
        assert eq.loc[pair, "steps"] == len(part)
    assert eq.loc["ve_sde", "max_rel_dev"] < 1e-9 and not eq.loc["vp_sde", "exact"]
    groups = eq["group"].tolist()  # Table II's rows first, then the solver rows beside them
    assert groups == sorted(groups, key=lambda g: g != "table2") and eq.loc["ddim_eta1", "group"] == "solvers"
    assert eq.loc["euler_ancestral", "max_rel_dev"] < 1e-9


def _psnr(x, gt):
    return -10 * math.log10(float(((x.double().clamp(0, 1) - gt.double()) ** 2).mean()))


def test_inverse_figure_panels_match_independent_psnr(tree):
    out = build(tree, "inverse", ["inverse-inpaint", "inverse-sr"])
    for task, full in tree["inverse"].items():
        tab = out[f"inverse-{task}"].set_index("panel")
        target = 0
        member = full["target"] == target
        gt = full["ground_truth"][member][0]
        mean = full["sample"][member].double().mean(0)  # 4 samples of target 0, split over two shards
        assert tab.loc["mean of 4", "psnr"] == pytest.approx(_psnr(mean, gt), rel=1e-12)
        assert tab.loc["mean of 4", "n"] == 4
        assert tab.loc["sample 2", "psnr"] == pytest.approx(_psnr(full["sample"][member][1], gt), rel=1e-12)
        y = (full["measurement"][member][0].double() + 1) / 2  # [-1, 1] -> [0, 1]
        if task == "sr":
            y = y.repeat_interleave(2, -1).repeat_interleave(2, -2)  # nearest upsampling x2
        assert tab.loc["measurement", "psnr"] == pytest.approx(_psnr(y, gt), rel=1e-12)
        assert set(tab["target"]) == {target} and math.isnan(tab.loc["ground truth", "psnr"])


def test_cli_prints_figures_and_writes_the_runs_table(tree, tmp_path, capsys):
    stale = tree["root"] / "runs" / "from-an-older-config"  # a folder without metrics stays out of the table
    stale.mkdir(exist_ok=True)
    (stale / "spec.json").write_text('{"run_id": "from-an-older-config", "sampler": "x"}')
    args = argparse.Namespace(metrics=str(tree["metrics"]), runs_dir=str(tree["root"] / "runs"),
                              tables_dir=str(tree["tables"]), out=str(tmp_path / "rep"), only="ve-vs-vp,runs,summary",
                              formats="png")
    assert cli.run(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("figure ve-vs-vp: 5 files:")  # samples, metrics with intervals, table (csv, md, html)
    assert (tmp_path / "rep" / "figures" / "ve-vs-vp.png").is_file()
    assert (tmp_path / "rep" / "figures" / "ve-vs-vp-metrics.png").is_file()
    page = (tmp_path / "rep" / "tables" / "ve-vs-vp.html").read_text()   # the table as the report shows it inline
    assert page.count("<tr>") == 1 + len(pd.read_csv(tmp_path / "rep" / "tables" / "ve-vs-vp.csv"))
    assert not (tmp_path / "rep" / "figures" / "ve-vs-vp.pdf").exists()
    runs = pd.read_csv(tmp_path / "rep" / "tables" / "runs.csv").set_index("run_id")
    exp = tree["expected"]
    assert set(runs.index) == set(exp) and runs["in_metrics"].all()
    for rid, (s, _) in exp.items():
        T0 = runs.loc[rid, "params_T0"]   # solver runs have no T0
        assert (T0 == s["params"]["T0"] if "T0" in s["params"] else math.isnan(T0)) and runs.loc[rid, "sampler"] == s["sampler"]
    assert list(runs.columns[:3]) == ["experiment", "figure", "model"]
    # the report's front page: what was run and, without the statistics step's table, the best / worst run per experiment
    front = (tmp_path / "rep" / "summary.html").read_text()
    assert f"{len(exp)} runs" in front and "Headline comparisons" in front and "best and worst run" in front
    experiments = sorted({s["experiment"] for s, _ in exp.values()})
    assert all(f"<td>{name}</td>" in front for name in experiments)
    (tmp_path / "rep" / "tables" / "comparisons.csv").write_text("comparison,delta_fid,ci95\nvp vs ve,1.5,0.25\n")
    assert cli.run(args) == 0
    front = (tmp_path / "rep" / "summary.html").read_text()
    assert "<td>vp vs ve</td><td>1.5</td><td>0.25</td>" in front and "best and worst run" not in front
    pd.DataFrame({"experiment": ["e"] * 3, "kind": ["difference", "equivalence", "difference"], "metric": ["fid"] * 3,
                  "difference": [0.1, 0.2, 3.0], "decision": ["undecided", "", "a > b"], "equivalence": ["", "equivalent", ""],
                  "a_runs": ["r1", "r2", "r3"]}).to_csv(tmp_path / "rep" / "tables" / "comparisons.csv", index=False)
    assert cli.run(args) == 0                                # rwbench compare's table: decided rows first, no run ids
    front = (tmp_path / "rep" / "summary.html").read_text()
    assert front.index("a &gt; b") < front.index("equivalent") < front.index("undecided") and "a_runs" not in front


def test_missing_inputs_are_skipped_and_bad_input_fails(tree, tmp_path, capsys):
    args = argparse.Namespace(metrics=str(tree["metrics"]), runs_dir=str(tmp_path / "none"),
                              tables_dir=str(tmp_path / "none"), out=str(tmp_path / "rep"),
                              only="equivalence,schedules,inverse,runs", formats="png")
    assert cli.run(args) == 0
    text = capsys.readouterr().out
    assert "skip equivalence:" in text and "skip inverse:" in text and "skip schedules:" in text
    assert not any(line.startswith("figure ") for line in text.splitlines()) and not (tmp_path / "rep" / "figures").exists()
    runs = pd.read_csv(tmp_path / "rep" / "tables" / "runs.csv")  # from the metrics table when folders are gone
    assert len(runs) == len(tree["expected"]) and "fid" not in runs.columns and "params_c" in runs.columns
    empty = tmp_path / "empty.csv"
    pd.DataFrame(columns=COLUMNS).to_csv(empty, index=False)
    with pytest.raises(ValueError, match="no rows"):
        figure_runs.build_figures(empty, tmp_path, tmp_path, tmp_path / "rep2")
    with pytest.raises(ValueError, match="--only"):
        figure_runs.build_figures(tree["metrics"], tmp_path, tmp_path, tmp_path / "rep3", only=["nope"])
    with pytest.raises(ValueError, match="--formats"):
        figure_runs.build_figures(tree["metrics"], tmp_path, tmp_path, tmp_path / "rep3", formats=("gif",))
    with pytest.raises(FileNotFoundError, match="rwbench aggregate"):
        figure_runs.build_figures(tmp_path / "absent.csv", tmp_path, tmp_path, tmp_path / "rep4")
    assert set(FIGURES) == {"schedules", "ve-vs-vp", "temperature", "inverse", "nfe", "cross", "posterior",
                            "equivalence", "calibration"}


def test_image_grid_places_images_row_major():
    images = torch.arange(5 * 3 * 2 * 2, dtype=torch.uint8).reshape(5, 3, 2, 2)
    grid = image_grid(images, nrow=3, pad=1, pad_value=255)
    assert grid.shape == (2 * 3 + 1, 3 * 3 + 1, 3)
    np.testing.assert_array_equal(grid[1:3, 4:6], images[1].permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(grid[4:6, 1:3], images[3].permute(1, 2, 0).numpy())
    assert (grid[4:6, 7:9] == 255).all() and (grid[0] == 255).all()
    gray = image_grid(images[:, :1], pad=0)
    assert gray.shape == (4, 6) and gray[0, 2] == images[1, 0, 0, 0]


def test_interval_helpers_and_labels():
    from rwbench.figures.common import interval_bounds, interval_errors, metric_label

    row = pd.Series({"fid": 10.0, "fid_ci_lo": 8.0, "fid_ci_hi": 13.0, "psnr": 20.0, "psnr_se": 0.5})
    assert interval_bounds(row, "fid") == (8.0, 13.0)
    assert interval_errors(row, "fid") == [[2.0], [3.0]]
    assert interval_bounds(row, "psnr") == pytest.approx((20 - 0.98, 20 + 0.98))
    assert interval_bounds(row, "kid_mean") is None
    assert metric_label("psnr") == "PSNR [dB]" and metric_label("fid") == "FID"


def test_pool_seeds_mean_and_t_interval_over_seeds():
    from rwbench.figures.common import pool_seeds

    runs = pd.DataFrame({"run_id": ["a0", "a1", "a2", "b0"], "seed": [0, 1, 2, 0], "params_TK": [0.2, 0.2, 0.2, 1.0],
                         "fid": [10.0, 12.0, 14.0, 5.0], "fid_ci95_lo": [9.0, 11.0, 13.0, 4.0],
                         "diverged_run": [False] * 4})
    pooled = pool_seeds(runs, {"fid"}).set_index("run_id")
    assert pooled.loc["a0", "fid"] == 12.0 and pooled.loc["a0", "n_seeds"] == 3 and pooled.loc["a0", "run_ids"] == "a0;a1;a2"
    half = (0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))) * 2.0 / math.sqrt(3)      # t_{0.975, 2} x sd / sqrt(3)
    assert pooled.loc["a0", "fid_ci95_lo"] == pytest.approx(12.0 - half, rel=1e-12)
    assert pooled.loc["b0", "fid"] == 5.0 and pooled.loc["b0", "fid_ci95_lo"] == 4.0


def test_floor_bands_pick_metric_n_and_reference():
    import matplotlib.pyplot as plt

    from rwbench.figures.common import draw_floor

    floors = pd.DataFrame({"reference": ["r1", "r1", "r2"], "n": [128, 64, 128], "metric": ["fid"] * 3,
                           "mean": [50.0, 80.0, 30.0], "sd": [5.0, 8.0, 3.0], "source": ["real:digits/test"] * 3})
    fig, ax = plt.subplots()
    assert draw_floor(ax, floors, "fid", 128, {"r1"})
    patches = [p for p in ax.patches]
    assert len(patches) == 1
    box = patches[0].get_window_extent().transformed(ax.transData.inverted())   # the band's data extent
    assert box.y0 == pytest.approx(45.0) and box.y1 == pytest.approx(55.0)
    assert not draw_floor(ax, floors, "kid_mean", 128)
    plt.close(fig)


def test_front_page_opens_with_the_claims_ledger_and_lists_diverged_runs(tree, tmp_path):
    """summary.html: the ledger (one line per claim, decision, estimate [interval]) first, then the figures carrying the
    claims with their captions (embedded), then the diverged runs with their cells, then the raw tables."""
    from rwbench.figures.captions import caption
    from rwbench.figures.summary import CLAIM_COLUMNS, read_claims

    out = tmp_path / "rep"
    figure_runs.build_figures(tree["metrics"], tree["root"] / "runs", tree["tables"], out, only=["nfe"],
                              formats=("png",))
    claims = pd.DataFrame([
        dict(claim="C1", title="the linear ladder fails at K = 100", question="q1", metric="fid", a_runs="a", b_runs="b",
             estimate=12.5, ci_lo=3.25, ci_hi=20.0, margin=0.0, decision="supported", n=128, seeds="0,1,2",
             method="paired bootstrap", power=0.8, figure="nfe"),
        dict(claim="C2", title="VE and VP agree", question="q2", metric="fid", a_runs="c", b_runs="d", estimate=-0.5,
             ci_lo=-1.5, ci_hi=0.75, margin=1.0, decision="undecided", n=64, seeds="0", method="TOST", power=0.5,
             figure=""),
        dict(claim="C3", title="DPS is calibrated", question="q3", metric="coverage", a_runs="e", b_runs="f",
             estimate=-0.3, ci_lo=-0.4, ci_hi=-0.2, margin=0.05, decision="contradicted", n=8, seeds="0",
             method="t", power=0.9, figure="posterior")], columns=CLAIM_COLUMNS)
    claims.to_csv(out / "claims.csv", index=False)
    figure_runs.build_figures(tree["metrics"], tree["root"] / "runs", tree["tables"], out, only=["summary"])
    front = (out / "summary.html").read_text()
    assert front.index("<h2>Claims</h2>") < front.index("Figures that carry") < front.index("<h2>Diverged runs")
    assert front.index("<h2>Diverged runs") < front.index("<h2>What was run") < front.index("Headline comparisons")
    assert "1 supported, 1 contradicted, 1 undecided" in front
    assert "<td>12.5 [3.25, 20]</td>" in front and "<td>-0.5 [-1.5, 0.75]</td>" in front
    assert front.count("<tr><td style='color:") == 3
    nfe_caption = caption("nfe").replace("**", "")
    assert "data:image/png;base64," in front and "Quality per cost" in nfe_caption and nfe_caption[:60] in front
    assert "posterior</b>: not drawn in this run" in front          # a carrying figure this run did not draw
    # diverged runs with their cells: the tree's nfe-ncsn-5 (all images) and x-ve-iadb (3 of 4)
    section = front[front.index("<h2>Diverged runs"):front.index("<h2>What was run")]
    assert "2 run(s) have diverged images" in section and "<td>nfe-ncsn-5</td>" in section
    assert "experiment=cross, model=digits-ve, sampler=iadb" in section and "<td>3</td><td>0.75</td>" in section
    claims.assign(decision=["supported", "maybe", "undecided"]).to_csv(out / "claims.csv", index=False)
    with pytest.raises(ValueError, match="maybe"):
        read_claims(out / "claims.csv")
    assert read_claims(out / "absent.csv") is None


def test_run_summary_names_diverged_runs_and_the_report(tree):
    from rwbench.progress import MAX_LINE, run_summary

    text = run_summary(tree["metrics"], "reports/summary.html", planned=40)
    lines = text.splitlines()
    assert lines[0].startswith(f"rwbench: {len(tree['expected'])} of 40 runs done") and "2 with diverged images:" in lines[0]
    assert any(line.startswith("  - nfe-ncsn-5: 4 images (100 %) diverged; cell experiment=nfe") for line in lines)
    assert any("x-ve-iadb: 3 images (75 %)" in line for line in lines)
    assert lines[-1] == "rwbench: report: reports/summary.html" and max(map(len, lines)) <= MAX_LINE
    assert run_summary("/nonexistent/metrics.csv", "r").startswith("rwbench: 0 runs done")
