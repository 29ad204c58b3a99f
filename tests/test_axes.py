"""The eta and step_scale axes of experiments (issue 15 items 1, 2, 4): grid expansion and run ids, the factor reaching
each posterior sampler's main step parameter (rwbench.plan.samplers step_param), compare cells and sweep pairs, the schema,
and figures that name eta and step_scale."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

from rwbench.analysis import compare
from rwbench.plan import config, grid, samplers
from rwbench.run import runners as sampling
from rwbench.models.denoisers import GaussianMixtureDenoiser

MODEL = {"registry": "digits-oracle", "family": "oracle", "dataset": "digits", "resolution": 4, "channels": 1, "data_range": [0, 1],
         "checkpoint": None, "sigma_min": 0.02, "sigma_max": 5.0}
SCALED = [n for n, r in samplers.SAMPLERS.items() if r.scales_step]


def config_of(**experiments):
    return {"seed": 1, "shard_size": 8, "models": {"oracle": MODEL}, "experiments": experiments}


def expand(**exp):
    base = {"models": ["oracle"], "steps": [4], "n_targets": 1, "samples_per_target": 2, "n_images": 2}
    return grid.expand(config_of(e={**base, **exp}))


def small_oracle(d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(2, d, generator=g, dtype=torch.float64)
    A = torch.randn(2, d, d, generator=g, dtype=torch.float64) * 0.05
    covs = A @ A.transpose(1, 2) + 1e-3 * torch.eye(d, dtype=torch.float64)
    return GaussianMixtureDenoiser(torch.tensor([0.6, 0.4], dtype=torch.float64), means, covs, sample_shape=(1, 4, 4))


# ------------------------------------------------------------------------------------------------------- the table


def test_rows_declare_their_step_parameter():
    """The scaled rows are exactly DPS and the posterior samplers; the walk's step parameter c is a list axis itself."""
    assert SCALED == ["dps", "pigdm", "ddrm", "diffpir", "daps"]
    assert {n: samplers.SAMPLERS[n].step_param for n in SCALED} == \
        {"dps": "zeta", "pigdm": "ddim_eta", "ddrm": "ddrm_eta", "diffpir": "lam", "daps": "lr"}
    walk = samplers.SAMPLERS["simplified"]
    assert walk.step_param == "c" and not walk.scales_step and "step_scale" not in walk.axes
    assert all(not r.scales_step for n, r in samplers.SAMPLERS.items() if n not in SCALED)
    with pytest.raises(ValueError, match="step_scale axis goes with a step_param"):
        samplers.Sampler("bad", "native", ("steps", "step_scale"), "x.y", "x.y", fixed_schedule="ddpm")
    with pytest.raises(ValueError, match="step_scale axis goes with a step_param"):
        samplers.Sampler("bad", "native", ("steps",), "x.y", "x.y", fixed_schedule="ddpm", step_param="zeta")


def test_step_parameters_are_settings_of_the_samplers_and_the_bench_reads_them():
    from rwbench.tools.bench.posterior import SWEEP_PARAM
    from rwbench.run.runners import posterior_settings

    for name in SCALED:
        assert samplers.SAMPLERS[name].step_param in posterior_settings(name, "inpaint", (1, 4, 4), (0.0, 1.0))
    assert SWEEP_PARAM == {"rw": "c", **{n: samplers.SAMPLERS[n].step_param for n in SCALED}}


def test_scaled_step_clamps_where_the_algorithm_is_bounded():
    pigdm, ddrm, daps = (samplers.SAMPLERS[n] for n in ("pigdm", "ddrm", "daps"))
    assert pigdm.scaled_step(0.2, 0.5) == 0.1 and pigdm.scaled_step(0.2, 8.0) == 1.0    # DDIM eta <= 1
    assert ddrm.scaled_step(0.85, 2.0) == 1.0 and daps.scaled_step(1e-4, 3.0) == pytest.approx(3e-4, rel=1e-15)
    with pytest.raises(ValueError, match="positive"):
        daps.scaled_step(1e-4, 0.0)


# ------------------------------------------------------------------------------------------------------- the grid


def test_eta_and_step_scale_lists_cross_only_where_used():
    specs = expand(samplers=["simplified", "dps", "pigdm", "euler"], tasks=["uncond", "inpaint"], eta=[0.05, 0.2],
                   step_scale=[0.5, 1, 2])
    count = {}
    for s in specs.values():
        count[s["sampler"]] = count.get(s["sampler"], 0) + 1
    # walk: uncond + inpaint x 2 eta; dps, pigdm: inpaint x 2 eta x 3 scales; euler: uncond only, no eta, no scale
    assert count == {"simplified": 3, "dps": 6, "pigdm": 6, "euler": 1}
    assert "e__oracle__dps__ddpm__K4__step_scale=0.5__variance=beta_tilde__eta=0.05__inpaint__s1" in specs
    assert "e__oracle__dps__ddpm__K4__variance=beta_tilde__eta=0.2__inpaint__s1" in specs       # scale 1 unnamed
    assert "e__oracle__pigdm__ddpm__K4__step_scale=2__eta=0.05__inpaint__s1" in specs
    assert "e__oracle__euler__karras__K4__uncond__s1" in specs                                  # no eta token
    assert "e__oracle__simplified__pretrained__K4__T0=0.4__TK=1__c=0.5__cap=lipschitz__init=sigma__eta=0.05__inpaint__s1" \
        in specs
    for s in specs.values():
        inverse = s["task"] != "uncond"
        assert ("eta" in s["task_params"]) == inverse and ("__eta=" in s["run_id"]) == inverse
        assert ("step_scale" in s["params"]) == (s["sampler"] in SCALED)
        if inverse:
            assert f"__eta={grid.fmt(s['task_params']['eta'])}__{s['task']}__" in s["run_id"]
    assert sorted({s["params"]["step_scale"] for s in specs.values() if s["sampler"] == "dps"}) == [0.5, 1.0, 2.0]
    assert len({s["run_id"] for s in specs.values()}) == len(specs)


def test_eta_default_comes_from_the_schema_and_a_number_still_works():
    default = config.default("experiments.*.eta")
    assert default == 0.2
    (spec,) = expand(samplers=["dps"], tasks=["sr"]).values()
    assert spec["task_params"] == {"factor": 4, "eta": default} and "__eta=0.2__sr__s1" in spec["run_id"]
    assert spec["params"]["step_scale"] == samplers.AXES["step_scale"].default == 1.0
    (spec,) = expand(samplers=["dps"], tasks=["sr"], eta=0.05).values()
    assert spec["task_params"]["eta"] == 0.05 and "__eta=0.05__sr__" in spec["run_id"]


def test_sampler_options_can_fix_step_scale_per_sampler():
    specs = expand(samplers=["dps", "daps"], tasks=["inpaint"], step_scale=[1, 2],
                   sampler_options={"daps": {"step_scale": 0.5}})
    assert sorted(s["params"]["step_scale"] for s in specs.values() if s["sampler"] == "dps") == [1.0, 2.0]
    assert [s["params"]["step_scale"] for s in specs.values() if s["sampler"] == "daps"] == [0.5]


@pytest.mark.parametrize("bad", [{"eta": [0.05, -0.1]}, {"step_scale": [0, 1]}, {"eta": [0.1, 0.1]}])
def test_grid_rejects_non_positive_or_repeated_values(bad):
    with pytest.raises(ValueError, match="distinct positive"):
        expand(samplers=["dps"], tasks=["inpaint"], **bad)


def test_grid_rejects_a_non_positive_step_scale_option():
    with pytest.raises(ValueError, match="sampler_options.dps.step_scale 0 needs a positive factor"):
        expand(samplers=["dps"], tasks=["inpaint"], sampler_options={"dps": {"step_scale": 0}})


def test_schema_accepts_an_eta_list_and_rejects_a_non_positive_step_scale():
    exp = {"models": ["oracle"], "samplers": ["dps"], "tasks": ["inpaint"], "eta": [0.05, 0.2], "step_scale": [0.5, 2]}
    cfg = config.validate_config(config_of(e=dict(exp)))
    assert cfg["experiments"]["e"]["eta"] == [0.05, 0.2]
    filled = config.validate_config(config_of(e={"models": ["oracle"], "samplers": ["dps"], "tasks": ["sr"]}))
    filled = filled["experiments"]["e"]
    assert filled["step_scale"] == [1.0] and filled["eta"] == 0.2
    for bad in ({"step_scale": [0.0, 1.0]}, {"step_scale": [-1]}, {"eta": [0.05, 0]}, {"step_scale": 2}):
        with pytest.raises(ValueError) as err:
            config.validate_config(config_of(e={**exp, **bad}))
        message = str(err.value)
        assert "\n" not in message and ("step_scale" in message or "eta" in message), message


# ---------------------------------------------------------------------------------- the factor reaches the algorithm


def _capture(monkeypatch, module: str, name: str):
    seen = {}

    def fake(*args, **kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        return torch.zeros_like(args[1])

    monkeypatch.setattr(f"rwbench.baselines.{module}.{name}", fake)
    return seen


@pytest.mark.parametrize("scale", [0.5, 8.0])
@pytest.mark.parametrize("name", ["pigdm", "ddrm", "diffpir", "daps"])
def test_run_posterior_scales_the_published_step_parameter(monkeypatch, name, scale):
    import importlib

    specs = expand(samplers=[name], tasks=["inpaint"], steps=[2], step_scale=[scale])
    (spec,) = specs.values()
    seen = _capture(monkeypatch, name, name)
    sampling.run_sampler(spec, small_oracle(), [0, 1], dtype=torch.float64)
    row = samplers.get(name)
    published = importlib.import_module(f"rwbench.baselines.{name}").published("inpaint", (0.0, 1.0))[row.step_param]
    want = published * scale if row.step_max is None else min(row.step_max, published * scale)
    assert seen["kwargs"][row.step_param] == pytest.approx(want, rel=1e-15)
    if name == "pigdm" and scale == 8.0:
        assert want == 1.0                          # 0.2 x 8 clamped to DDIM eta 1
    assert seen["kwargs"]["generators"] is not None


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_run_dps_multiplies_the_rescaled_published_zeta(monkeypatch, scale):
    from rwbench.run.runners import posterior_settings

    (spec,) = expand(samplers=["dps"], tasks=["deblur"], steps=[3], step_scale=[scale],
                     task_params={"deblur": {"size": 3, "std": 1.0}}).values()
    seen = _capture(monkeypatch, "dps", "dps")
    out = sampling.run_sampler(spec, small_oracle(), [0, 1], dtype=torch.float64)
    published = posterior_settings("dps", "deblur", (1, 4, 4), (0.0, 1.0), nfe=3)["zeta"]
    assert seen["args"][5] == pytest.approx(published * scale, rel=1e-14)
    assert out["step_param"] == {"zeta": seen["args"][5]}


# ------------------------------------------------------------------------------------------------------- compare


def test_cell_key_separates_eta_and_seeds_replicate_within_a_cell():
    specs = list(expand(samplers=["dps", "simplified"], tasks=["inpaint", "uncond"], eta=[0.05, 0.2], seeds=[0, 1])
                 .values())
    cells = compare.cells_of(specs)
    assert len(cells) == 2 * 2 + 1 and all(len(c.specs) == 2 for c in cells)   # (dps, walk) x eta + the walk's uncond
    for cell in cells:
        assert len({s["task_params"].get("eta") for s in cell.specs}) == 1 and {s["seed"] for s in cell.specs} == {0, 1}
        assert ("eta" in cell.key) == (cell.key["task"] != "uncond")
    assert {c.key["eta"] for c in cells if "eta" in c.key} == {0.05, 0.2}


def test_step_scale_is_swept_in_pairs_never_across_eta():
    exp = {"samplers": ["dps", "pigdm", "simplified"], "tasks": ["inpaint"], "eta": [0.05, 0.2],
           "step_scale": [0.5, 1, 2], "reference_sampler": "simplified"}
    specs = list(expand(**exp).values())
    cells = compare.cells_of(specs)
    sweeps = compare.sweep_pairs(exp, cells)
    assert {axis for axis, _, _ in sweeps} == {"step_scale"}
    got = sorted((a.key["sampler"], a.key["eta"], a.key["step_scale"], b.key["step_scale"]) for _, a, b in sweeps)
    assert got == sorted((s, e, lo, hi) for s in ("dps", "pigdm") for e in (0.05, 0.2) for lo, hi in ((0.5, 1.0), (1.0, 2.0)))
    assert all(a.key["eta"] == b.key["eta"] for _, a, b in sweeps)
    pairs = compare.sampler_pairs(exp, cells)
    assert len(pairs) == 2 * 2 * 3          # dps and pigdm at each eta and scale against the walk at that eta
    assert all(a.key["eta"] == b.key["eta"] and b.key["sampler"] == "simplified" for _, a, b in pairs)
    claims = compare.equivalence_pairs({"contrasts": [{"a": {"sampler": "dps", "step_scale": 2}, "b": {"sampler": "simplified"}}]},
                                       cells, key="contrasts")
    assert len(claims) == 2 and all(a.key["eta"] == b.key["eta"] for _, a, b in claims)
    assert "step_scale" not in compare.describe(next(c.key for c in cells if c.key.get("step_scale") == 1.0))
    assert "step_scale=2.0" in compare.describe(next(c.key for c in cells if c.key.get("step_scale") == 2.0))


# ------------------------------------------------------------------------------------------------------- figures


def _context(tmp_path, runs: list[dict], metrics: dict):
    from rwbench.figures.common import Context

    rows = [{**run, "metric": m, "value": v} for run in runs for m, v in metrics[run["run_id"]].items()]
    ctx = Context(pd.DataFrame(rows), tmp_path / "runs", tmp_path / "tables", tmp_path / "out")
    figures = []
    ctx.save_figure = lambda fig, stem, draws=(): figures.append(fig) or []
    return ctx, figures


def _run(run_id, figure, sampler, eta, scale=None, task="inpaint"):
    run = {"run_id": run_id, "figure": figure, "model": "faces-oracle", "family": "oracle", "sampler": sampler,
           "task": task, "task_params_eta": eta, "samples_per_target": 16, "seed": 0, "data_range": "[0.0, 1.0]"}
    if scale is not None:
        run["params_step_scale"] = scale
    return run


def test_axis_texts():
    from rwbench.figures.common import inverse_axes_text

    assert inverse_axes_text({"task": "inpaint", "task_params_eta": 0.05, "params_step_scale": 2.0}) == \
        "eta = 0.05, step_scale = 2"
    assert inverse_axes_text({"task": "sr", "task_params_eta": 0.2, "params_step_scale": 1.0}) == "eta = 0.2"
    assert inverse_axes_text({"task": "uncond", "task_params_eta": math.nan}) == ""


def test_posterior_figure_names_eta_and_step_scale(tmp_path):
    from rwbench.figures import posterior

    runs = [_run("a", "posterior", "simplified", 0.05), _run("b", "posterior", "simplified", 0.2),
            _run("c", "posterior", "dps", 0.05, 1.0), _run("d", "posterior", "dps", 0.05, 2.0)]
    metrics = {r["run_id"]: {"coverage": 0.8, "coverage_of_exact_draws": 0.7, "psnr_gap": -0.1, "level": 0.9} for r in runs}
    ctx, figures = _context(tmp_path, runs, metrics)
    posterior.build(ctx)
    (fig,) = figures
    ax = fig.axes[0]
    legend = {t.get_text() for t in fig.legends[0].get_texts()}                  # samplers, step_scale named
    assert {"simplified", "dps", "dps (step_scale = 2)"} <= legend
    assert [t.get_text() for t in ax.get_xticklabels()] == ["inpaint, eta = 0.05", "inpaint, eta = 0.2"]
    plt.close(fig)
    table = pd.read_csv(tmp_path / "out" / "tables" / "posterior.csv").set_index("run_id")
    assert table.loc["b", "task_params_eta"] == 0.2 and table.loc["d", "params_step_scale"] == 2.0


def test_inverse_summary_names_task_eta_and_step_scale(tmp_path):
    """The overview: one panel per task, x = model and eta; the per-task metric panels: one per metric; the sampler
    (with a step_scale off 1) in the legend."""
    from rwbench.figures import inverse

    runs = [_run("a", "inverse", "simplified", 0.05), _run("b", "inverse", "simplified", 0.2),
            _run("c", "inverse", "dps", 0.2, 0.5), _run("d", "inverse", "dps", 0.2, 1.0, task="sr")]
    ctx, figures = _context(tmp_path, runs, {r["run_id"]: {"psnr": 20.0} for r in runs})
    inverse.summary_figure(ctx, ctx.figure_runs("inverse"))
    overview = figures[0]
    titles = [ax.get_title() for ax in overview.axes if ax.axison]
    assert titles == ["inpaint: PSNR of single samples", "sr: PSNR of single samples"]
    ticks = [t.get_text() for t in overview.axes[0].get_xticklabels()]
    assert ticks == ["faces-oracle, eta = 0.05", "faces-oracle, eta = 0.2"]
    legend = [t.get_text() for t in overview.legends[0].get_texts()]
    assert legend == ["simplified", "dps (step_scale = 0.5)", "dps"]
    assert len(figures) == 3                                     # the overview, then inpaint's and sr's metrics
    for fig in figures:
        plt.close(fig)


def test_inverse_task_figure_names_each_rows_eta_and_step_scale(tmp_path):
    """Rows of two noise levels in one task figure: each row's label says its eta (and step_scale != 1)."""
    from rwbench.figures import inverse

    runs = [_run("a", "inverse", "simplified", 0.05), _run("b", "inverse", "dps", 0.2, 2.0)]
    ctx, figures = _context(tmp_path, runs, {r["run_id"]: {"psnr": 20.0} for r in runs})
    g = torch.Generator().manual_seed(0)
    for run in runs:
        gt = torch.rand(2, 1, 4, 4, generator=g)
        shard = {"index": torch.arange(2), "target": torch.zeros(2, dtype=torch.long), "sample": gt.float(),
                 "diverged": torch.zeros(2, dtype=torch.bool), "ground_truth": gt.float(), "measurement": gt.float()}
        (ctx.run_dir(run["run_id"]) / "shards").mkdir(parents=True)
        torch.save(shard, ctx.run_dir(run["run_id"]) / "shards" / "shard-00000.pt")
    inverse.task_figure(ctx, "inpaint", ctx.figure_runs("inverse"))
    (fig,) = figures
    (ax,) = fig.axes                                          # one montage panel for the one model
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["simplified, eta = 0.05", "dps, eta = 0.2, step_scale = 2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["measurement", "sample 1", "sample 2", "mean of N",
                                                            "ground truth"]
    assert ax.get_title() == "inpaint: faces-oracle"
    plt.close(fig)
    table = pd.read_csv(tmp_path / "out" / "tables" / "inverse-inpaint.csv")
    assert set(zip(table["run_id"], table["eta"], table["step_scale"])) == {("a", 0.05, 1.0), ("b", 0.2, 2.0)}
