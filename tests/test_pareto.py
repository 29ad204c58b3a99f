"""The oracle Pareto front (issue 23): the table from evaluated oracle runs (rwbench.analysis.pareto), its figure
(rwbench.figures.pareto), the configs' pareto experiments and the tuned-settings file they run."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from rwbench.analysis import pareto
from rwbench.plan import tuned
from rwbench.plan.claims import PILOT_SEED_BASE
from rwbench.plan.config import load_and_validate, validate_config
from rwbench.plan.grid import expand, expand_experiment

ROOT = Path(__file__).resolve().parent.parent
REF = "file:oracle-reference.safetensors@sha256:0123456789ab"
ORACLE = {"family": "oracle", "dataset": "digits", "resolution": 16, "channels": 1, "data_range": [0, 1],
          "checkpoint": "embedded:oracle", "sigma_min": 0.01, "sigma_max": 8.5, "start": "exact",
          "reference": {"kind": "file", "path": "embedded:oracle/digits-oracle-reference.safetensors"}}


def tuned_file(path: Path, seeds=(PILOT_SEED_BASE * 2,)) -> Path:
    content = {"sampler": "simplified", "model": "oracle", "n": 64, "noise": "independent",
               "tuning_seeds": list(seeds), "grid": {},
               "settings": {10: {"schedule": "sigmoid", "c": 1.0, "T0": 0.1, "TK": 0.8, "steps": 10},
                            50: {"schedule": "sigmoid", "c": 0.7, "T0": 0.4, "TK": 1.0, "steps": 50}}}
    path.write_text(yaml.safe_dump(content))
    return path


def small_config(tmp_path: Path) -> dict:
    config = {"results_dir": str(tmp_path / "results"), "seed": 0,
              "models": {"digits-oracle": dict(ORACLE)},
              "pareto": {"experiments": ["front", "front-tuned"], "samples_nfe": [10, 50], "samples": 4},
              "experiments": {
                  "front": {"models": ["digits-oracle"], "samplers": ["simplified", "heun"], "schedules": ["sigmoid"],
                            "sampler_options": {"heun": {"schedule": "karras"}}, "nfe": [10, 50], "n_images": 4,
                            "noise": "independent"},
                  "front-tuned": {"models": ["digits-oracle"], "samplers": ["simplified"],
                                  "tuned": str(tuned_file(tmp_path / "tuned.yaml")), "nfe": [10, 50], "n_images": 4,
                                  "noise": "independent"}}}
    return validate_config(config)


# (sampler, experiment, budget) -> ((ed, ed_lo, ed_hi), (vr, vr_lo, vr_hi)); bands: ed 0 +- 0.01, vr 1 +- 0.03
VALUES = {("simplified", "front", 10): ((0.5, 0.4, 0.6), (2.0, 1.9, 2.1)),      # neither in band
          ("simplified", "front", 50): ((0.005, -0.01, 0.02), (0.8, 0.75, 0.85)),  # ED in band, VR not: out
          ("heun", "front", 10): ((0.05, 0.02, 0.08), (0.99, 0.95, 1.03)),     # VR in band, ED not: out
          ("heun", "front", 50): ((0.001, -0.02, 0.03), (1.01, 0.96, 1.06)),   # both: in band
          ("simplified", "front-tuned", 10): ((0.02, 0.005, 0.04), (1.02, 1.0, 1.04)),   # both overlap: in band
          ("simplified", "front-tuned", 50): ((0.0, -0.02, 0.02), (1.0, 0.95, 1.05))}


def fake_metrics(config: dict) -> pd.DataFrame:
    rows = []
    for name in ("front", "front-tuned"):
        for spec in expand_experiment(config, name):
            budget = min(b for b in config["experiments"][name]["nfe"] if b >= spec["nfe"])
            ed, vr = VALUES[(spec["sampler"], name, budget)]
            for metric, (v, lo, hi) in (("energy_distance", ed), ("variance_ratio", vr)):
                rows.append({"run_id": spec["run_id"], "metric": metric, "value": v, "se": (hi - lo) / 3.92,
                             "ci_lo": lo, "ci_hi": hi, "n": 128, "reference": REF})
            rows.append({"run_id": spec["run_id"], "metric": "diverged_fraction", "value": 0.0, "n": 128})
    return pd.DataFrame(rows)


FLOORS = pd.DataFrame([{"reference": REF, "n": 128, "metric": "energy_distance", "mean": 0.0, "sd": 0.01},
                       {"reference": REF, "n": 128, "metric": "variance_ratio", "mean": 1.0, "sd": 0.03}])


def test_table_has_the_columns_and_the_band_logic(tmp_path):
    config = small_config(tmp_path)
    notes = []
    frame = pareto.table(config, fake_metrics(config), FLOORS, notes)
    required = ["sampler", "setting", "nfe", "ed", "ed_lo", "ed_hi", "variance_ratio", "vr_lo", "vr_hi", "n",
                "ed_band_lo", "ed_band_hi", "vr_band_lo", "vr_band_hi", "in_band", "band_nfe", "band_rule", "label"]
    assert all(c in frame.columns for c in required) and not notes
    assert len(frame) == 6
    by = {(r.sampler, r.setting, r.nfe): r for r in frame.itertuples()}
    assert set(by) == {("simplified", "shipped", 10), ("simplified", "shipped", 50), ("heun", "karras", 10),
                       ("heun", "karras", 50), ("simplified", "tuned", 10), ("simplified", "tuned", 50)}
    # heun spends its budget 2K - 1: K = 5 at NFE 10 (9 used), 25 at 50
    assert (by[("heun", "karras", 10)].steps, by[("heun", "karras", 10)].nfe_used) == (5, 9)
    assert by[("simplified", "shipped", 50)].label == "K=50, T 0.4->1, c=0.5"
    assert by[("simplified", "tuned", 10)].label == "K=10, T 0.1->0.8, c=1"     # the tuned file's setting at 10
    assert by[("heun", "karras", 50)].ed == 0.001 and by[("heun", "karras", 50)].vr_hi == 1.06
    assert (by[("heun", "karras", 50)].ed_band_lo, by[("heun", "karras", 50)].ed_band_hi) == (-0.01, 0.01)
    assert by[("heun", "karras", 50)].vr_band_lo == pytest.approx(0.97)
    in_band = {k: bool(r.in_band) for k, r in by.items()}
    assert in_band == {("simplified", "shipped", 10): False, ("simplified", "shipped", 50): False,
                       ("heun", "karras", 10): False, ("heun", "karras", 50): True,
                       ("simplified", "tuned", 10): True, ("simplified", "tuned", 50): True}
    band_nfe = {(r.sampler, r.setting): r.band_nfe for r in frame.itertuples()}
    assert band_nfe[("heun", "karras")] == 50 and band_nfe[("simplified", "tuned")] == 10
    assert math.isnan(band_nfe[("simplified", "shipped")])
    assert list(frame["nfe"]) == [10, 50, 10, 50, 10, 50]         # sorted within each line
    assert "overlap" in frame["band_rule"].iloc[0]
    # without floors the band is empty and nothing is in band (and a note says why)
    frame = pareto.table(config, fake_metrics(config), None, notes)
    assert not frame["in_band"].any() and frame["ed_band_lo"].isna().all() and notes


def test_seeds_pool_by_their_standard_errors():
    rows = [{"value": 0.1, "se": 0.02, "n": 128}, {"value": 0.3, "se": 0.04, "n": 128}]
    value, lo, hi, n = pareto._pooled(rows)
    se = math.sqrt(0.02 ** 2 + 0.04 ** 2) / 2
    assert value == pytest.approx(0.2) and n == 256
    assert (lo, hi) == (pytest.approx(0.2 - pareto.Z95 * se), pytest.approx(0.2 + pareto.Z95 * se))
    one = pareto._pooled([{"value": 0.1, "se": 0.02, "ci_lo": 0.0, "ci_hi": 0.5, "n": 64}])
    assert one == (0.1, 0.0, 0.5, 64)                              # one seed: evaluate's own interval


def test_setting_names():
    key = {"sampler": "simplified", "schedule": "sigmoid", "c": 0.7, "T0": 0.1, "TK": 1.0, "steps": 100}
    assert pareto.setting({}, key) == "paper" and pareto.setting({"tuned": "x"}, key) == "tuned"
    assert pareto.setting({}, dict(key, c=0.3)) == "sigmoid c=0.3 T0=0.1 TK=1"
    assert pareto.setting({}, {"sampler": "ddim", "schedule": "ddpm", "ancestral_eta": 0.0}) == "ddpm, eta=0"


def test_figure_has_two_panels_within_2400_px_and_the_sample_grids(tmp_path):
    from PIL import Image

    from rwbench.figures import pareto as figure
    from rwbench.figures import style
    from rwbench.figures.common import Context

    config = small_config(tmp_path)
    metrics = fake_metrics(config)
    frame = pareto.table(config, metrics, FLOORS)
    runs = tmp_path / "runs"
    for run in frame["run_ids"]:
        (runs / run / "shards").mkdir(parents=True)
        images = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
        torch.save({"index": torch.arange(4), "sample_uint8": images}, runs / run / "shards" / "shard-00000.pt")
    ctx = Context(metrics, runs, tmp_path / "tables", tmp_path / "out", ("png",))
    written = figure.build(ctx, frame, [10, 50], 4)
    names = {p.name for p in written}
    assert names == {"pareto.png", "pareto.csv", "pareto.md", "pareto.html", "pareto-samples.png"}
    assert ctx.drawn["pareto"]["panels"] == 2 and ctx.drawn["pareto-samples"]["panels"] == 2
    assert set(ctx.drawn["pareto"]["draws"]) == {"energy_distance", "variance_ratio"}
    for stem in ("pareto", "pareto-samples"):
        width, _ = Image.open(tmp_path / "out" / "figures" / f"{stem}.png").size
        assert width <= style.MAX_WIDTH_PX and ctx.drawn[stem]["panels"] <= style.MAX_PANELS
    assert not ctx.notes, ctx.notes
    # the files the DAG declares for the figure are the ones it writes (the figure table's PARETO row)
    from rwbench.plan.figures import figure_files

    declared = {f"{f.stem}.png" for f in figure_files("pareto", [{"task": "uncond"}])}
    declared |= {f"{f.stem}.{e}" for f in figure_files("pareto", [{"task": "uncond"}]) if f.table
                 for e in ("csv", "md", "html")}
    assert declared == names


def test_default_config_runs_the_reduced_front():
    config = load_and_validate(str(ROOT / "config/default.yaml"))
    assert config["pareto"]["experiments"] == ["pareto", "pareto-paper", "pareto-tuned"]
    runs = expand(config, config["pareto"]["experiments"])
    assert len(runs) == 8 * 3 + 3 + 3
    budgets = {}
    for spec in runs.values():
        name = spec["experiment"]
        budgets.setdefault((name, spec["sampler"]), set()).add(
            min(b for b in config["experiments"][name]["nfe"] if b >= spec["nfe"]))
        assert (spec["model"], spec["n_images"], spec["noise"], spec["start"], spec["seed"]) == \
            ("digits-oracle", 128, "independent", "exact", 0)
        assert spec["schedule"] == {"simplified": "sigmoid", "native-ddpm": "ddpm", "ddim": "ddpm"}.get(
            spec["sampler"], "karras")
    assert all(b == {10, 50, 200} for b in budgets.values()) and len(budgets) == 10
    assert {s for (e, s) in budgets if e == "pareto"} == {"simplified", "native-ddpm", "ddim", "euler",
                                                           "euler-ancestral", "heun", "dpmpp-2m", "dpmpp-2m-sde"}
    walk = {(s["experiment"], s["nfe"]): s["params"] for s in runs.values() if s["sampler"] == "simplified"}
    assert {k: walk[("pareto", 50)][k] for k in ("c", "T0", "TK")} == {"c": 0.5, "T0": 0.4, "TK": 1.0}
    assert (walk[("pareto-paper", 50)]["c"], walk[("pareto-paper", 50)]["T0"]) == (0.7, 0.1)
    settings = tuned.read(config["experiments"]["pareto-tuned"]["tuned"])["settings"]
    for budget in (10, 50, 200):
        got = walk[("pareto-tuned", budget)]
        assert {k: got[k] for k in ("c", "T0", "TK")} == {k: settings[budget][k] for k in ("c", "T0", "TK")}
    assert all(s["schedule"] == settings[s["nfe"]]["schedule"] for s in runs.values()
               if s["experiment"] == "pareto-tuned")


def test_full_front_config_runs_every_budget():
    config = load_and_validate(str(ROOT / "config/pareto.yaml"))
    runs = expand(config, config["pareto"]["experiments"])
    assert len(runs) == 10 * 8
    assert {s["n_images"] for s in runs.values()} == {512}
    budgets = {min(b for b in config["experiments"][s["experiment"]]["nfe"] if b >= s["nfe"]) for s in runs.values()}
    assert budgets == {5, 10, 20, 50, 100, 200, 500, 1000}


def test_tuned_file_was_made_on_seeds_disjoint_from_the_confirmatory_ones():
    path = ROOT / "config/tuned/walk-oracle.yaml"
    content = tuned.read(path)
    seeds = set(content["tuning_seeds"])
    assert seeds and all(s >= PILOT_SEED_BASE for s in seeds)   # validate_config keeps confirmatory seeds below
    for name in ("default", "pareto"):
        config = load_and_validate(str(ROOT / f"config/{name}.yaml"))
        confirmatory = {s["seed"] for s in expand(config).values()}
        assert not seeds & confirmatory
        assert set(config["experiments"]["pareto-tuned"]["nfe"]) <= set(content["settings"])
    assert content["sampler"] == "simplified" and content["model"] == "digits-oracle"
    assert (path.parent / "walk-oracle-selection.csv").is_file()


def test_tuned_experiments_refuse_the_tuning_seeds_and_missing_budgets(tmp_path):
    path = tuned_file(tmp_path / "t.yaml", seeds=[5])
    exp = {"samplers": ["simplified"], "tuned": str(path), "nfe": [10]}
    with pytest.raises(ValueError, match="were used to tune"):
        tuned.budget_experiments("e", exp, [5])
    with pytest.raises(ValueError, match="no setting for NFE 20"):
        tuned.budget_experiments("e", dict(exp, nfe=[20]), [0])
    with pytest.raises(ValueError, match="list only that"):
        tuned.budget_experiments("e", dict(exp, samplers=["heun"]), [0])
    (sub,) = tuned.budget_experiments("e", exp, [0])
    assert (sub["c"], sub["T0"], sub["TK"], sub["schedules"], sub["nfe"]) == ([1.0], [0.1], [0.8], ["sigmoid"], [10])
    assert "tuned" not in sub


def test_tunings_merge_by_budget():
    from rwbench.tools.tune_walk import merge

    s = {"schedule": "sigmoid", "c": 0.5, "T0": 0.4, "TK": 1.0}
    old = {"sampler": "simplified", "model": "m", "noise": "independent", "tuning_seeds": [2_000_000], "n": 256,
           "grid": {"c": [0.5]}, "settings": {10: s, 50: s}}               # one tuning, written before `tunings`
    new = {"sampler": "simplified", "model": "m", "noise": "independent", "tuning_seeds": [2_000_000],
           "tunings": [{"nfe": [50, 500], "n": 128, "grid": {"c": [1.0]}}], "settings": {50: dict(s, c=1.0), 500: s}}
    got = merge(old, new)
    assert got["settings"][50]["c"] == 1.0 and sorted(got["settings"]) == [10, 50, 500]
    assert got["tunings"] == [{"nfe": [10], "n": 256, "grid": {"c": [0.5]}}, new["tunings"][0]]
    with pytest.raises(ValueError, match="tuning_seeds"):
        merge(old, dict(new, tuning_seeds=[3]))
