"""The sampler table (rwbench.plan.samplers): schema equality, importable functions, NFE rules, schedule resolution shared
by grid / sampling / the schedules table, and table-driven dispatch of every sampler on an exact oracle."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from rwbench.plan import config, grid, samplers
from rwbench.run import runners as sampling
from rwbench.core import schedules
from rwbench.tools import schedule_table as schedules_cmd
from rwbench.models.denoisers import GaussianMixtureDenoiser

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def experiment_schema() -> dict:
    schema = yaml.safe_load(SCHEMA.read_text())
    return schema["properties"]["experiments"]["additionalProperties"]["properties"]


def test_schema_enums_and_defaults_equal_the_table():
    props = experiment_schema()
    assert props["samplers"]["items"]["enum"] == list(samplers.SAMPLERS)
    assert props["schedules"]["items"]["enum"] == list(samplers.SCHEDULES)
    for axis in samplers.AXES.values():
        if axis.source == "option":
            continue
        assert axis.key in props, f"schema lacks the experiment key {axis.key!r}"
        if axis.name in ("steps", "schedule"):   # no schema default (`nfe` replaces steps; solvers default to karras)
            assert "default" not in props[axis.key] and f"[{axis.default}]" in props[axis.key]["description"]
        elif axis.default is not None:
            want = [axis.default] if axis.source == "list" else axis.default
            assert props[axis.key].get("default") == want, axis.name
    assert "nfe" in props


def test_every_per_family_table_covers_the_families_and_data_reads_its_ranges():
    """A model family is named once (samplers.FAMILIES); its pretrained ladder and its data range sit beside it, and
    rwbench.data reads the range from there (no second list of families)."""
    from rwbench import data

    assert list(samplers.PRETRAINED) == list(samplers.FAMILIES) == list(samplers.FAMILY_RANGES)
    assert set(samplers.TRAINED_FAMILIES) < set(samplers.FAMILIES)
    assert data.FAMILY_RANGES is samplers.FAMILY_RANGES
    assert {f: data.family_range(f) for f in samplers.FAMILIES} == samplers.FAMILY_RANGES
    with pytest.raises(ValueError, match="vp, ve, iadb, oracle"):
        data.family_range("edm")


def test_grid_and_schedules_use_the_table():
    assert grid.SAMPLERS is samplers.SAMPLERS and grid.SCHEDULES == samplers.SCHEDULES
    assert set(schedules.LADDERS) == set(samplers.LADDERS)


@pytest.mark.parametrize("name", list(samplers.SAMPLERS))
def test_every_row_is_consistent_and_its_functions_import(name):
    row = samplers.SAMPLERS[name]
    assert callable(samplers.resolve(row.run)) and callable(samplers.resolve(row.algorithm))
    assert row.uncond or row.inverse
    assert ("schedule" in row.axes) != (row.fixed_schedule is not None)
    for kw in row.keywords:
        assert kw in row.axes


def test_nfe_rules():
    assert samplers.nfe("heun", 10, {}) == 19 and samplers.nfe("euler", 10, {}) == 10
    assert samplers.nfe("dpmpp-2m", 7, {}) == 7 and samplers.nfe("ddim", 7, {"ancestral_eta": 0.5}) == 7
    assert samplers.nfe("native-ve-sde", 10, {"corrector_snr": 0.16}) == 20
    assert samplers.nfe("native-ve-sde", 10, {}) == 10 and samplers.nfe("ncsn", 10, {"n_steps_each": 5}) == 10
    heun, ncsn = samplers.get("heun"), samplers.get("native-ncsn")
    assert heun.steps_for_nfe(10, {}) == 5 and heun.steps_for_nfe(11, {}) == 6
    assert ncsn.steps_for_nfe(23, {"n_steps_each": 5}) == 20
    assert samplers.get("native-vp-sde").steps_for_nfe(25, {"corrector_snr": 0.1}) == 12
    with pytest.raises(ValueError, match="below one step"):
        ncsn.steps_for_nfe(3, {"n_steps_each": 5})


@pytest.mark.parametrize("name", [n for n, r in samplers.SAMPLERS.items() if r.kind == "solver"])
def test_solver_rows_count_what_the_solver_spends(name):
    """The table's NFE of a VE solver row (the one home of NFE counts) is the number of denoiser calls the solver makes
    on a K + 1 level ladder ending at 0, and steps_for_nfe inverts it."""
    row = samplers.get(name)
    fn = samplers.resolve(row.algorithm)
    calls = []
    prior = GaussianMixtureDenoiser(torch.ones(1, dtype=torch.float64), torch.zeros(1, 4, dtype=torch.float64),
                                    torch.eye(4, dtype=torch.float64)[None])

    def counting(x, sigma):
        calls.append(float(sigma))
        return prior(x, sigma)

    for K in (1, 2, 5):
        calls.clear()
        ladder = torch.cat([torch.linspace(5.0, 0.1, K, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)])
        kwargs = {"eta": 0.0} if "ancestral" in name or "sde" in name else {}
        fn(counting, torch.ones(2, 4, dtype=torch.float64), ladder, **kwargs)
        assert len(calls) == samplers.nfe(name, K, {}), (name, K)
        assert row.count_nfe(row.steps_for_nfe(row.count_nfe(K, {}), {}), {}) <= row.count_nfe(K, {})


MODEL = {"family": "oracle", "dataset": "digits", "resolution": 4, "channels": 1, "data_range": [0, 1],
         "checkpoint": None, "sigma_min": 0.02, "sigma_max": 5.0}


def config(models=None, **experiments):
    return {"seed": 1, "shard_size": 8, "models": models or {"oracle": MODEL}, "experiments": experiments}


def test_nfe_budgets_give_each_sampler_its_steps():
    cfg = config(e={"models": ["oracle"], "samplers": ["euler", "heun", "native-ve-sde", "ncsn"], "nfe": [10, 20],
                    "schedules": ["karras"], "sampler_options": {"native-ve-sde": {"corrector_snr": 0.16},
                                                                 "ncsn": {"n_steps_each": 3}}})
    got = {(s["sampler"], s["nfe"]): s["steps"] for s in grid.expand(cfg).values()}
    assert got == {("euler", 10): 10, ("euler", 20): 20, ("heun", 9): 5, ("heun", 19): 10,
                   ("native-ve-sde", 10): 5, ("native-ve-sde", 20): 10, ("ncsn", 9): 9, ("ncsn", 18): 18}
    with pytest.raises(ValueError, match="not both"):
        grid.expand(config(e={"models": ["oracle"], "samplers": ["euler"], "nfe": [10], "steps": [10]}))


def test_solver_axes_and_run_ids():
    cfg = config(e={"models": ["oracle"], "samplers": ["euler-ancestral", "ddim", "dpmpp-2m-sde", "euler", "simplified"],
                    "schedules": ["karras"], "steps": [10], "ancestral_eta": [0.0, 0.5]})
    ids = set(grid.expand(cfg))
    assert "e__oracle__euler-ancestral__karras__K10__ancestral_eta=0.5__uncond__s1" in ids
    assert "e__oracle__ddim__ddpm__K10__ancestral_eta=0__uncond__s1" in ids
    assert "e__oracle__euler__karras__K10__uncond__s1" in ids   # euler ignores the eta axis: one run
    assert len(ids) == 2 + 2 + 2 + 1 + 1
    # per-sampler defaults when the experiment does not give the axis
    specs = grid.expand(config(e={"models": ["oracle"], "samplers": ["euler-ancestral", "ddim", "simplified"],
                                  "steps": [4]}))
    assert {s["sampler"]: s["params"].get("ancestral_eta") for s in specs.values()} == \
        {"euler-ancestral": 1.0, "ddim": 0.0, "simplified": None}
    assert {s["sampler"]: s["schedule"] for s in specs.values()} == \
        {"euler-ancestral": "karras", "ddim": "ddpm", "simplified": "pretrained"}
    with pytest.raises(ValueError, match="does not use"):
        grid.expand(config(e={"models": ["oracle"], "samplers": ["euler"], "sampler_options": {"euler": {"eps": 1}}}))


@pytest.mark.parametrize("family", samplers.FAMILIES)
@pytest.mark.parametrize("name", samplers.SCHEDULES)
def test_schedule_resolution_agrees_across_grid_sampling_and_the_schedules_table(family, name):
    resolved = samplers.resolve_schedule(name, family)
    if name == "pretrained":
        assert resolved == ("vp_pretrained" if family == "vp" else "geometric")
    spec = {"schedule": name, "family": family, "steps": 12, "sigma_min": 0.01, "sigma_max": 157.41}
    got = sampling.ladder(spec, denoiser=object())   # no betas on the denoiser: DDPM's linear betas
    want = (schedules.vp_pretrained(12, schedules.linear_betas()) if resolved == "vp_pretrained"
            else schedules.ladder(resolved, 12, 0.01, 157.41))
    assert torch.equal(got, want)
    if family == "vp":   # the schedules table tabulates VP ladders
        assert torch.equal(schedules_cmd.schedule_sigmas(name, 12, 0.01, 157.41), want)
    models = {"m": dict(MODEL, family=family)}
    run = next(iter(grid.expand(config(models, e={"models": ["m"], "samplers": ["euler"], "schedules": [name],
                                                    "steps": [3]})).values()))
    assert run["schedule"] == name


def test_unknown_schedule_and_family_are_rejected():
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        samplers.resolve_schedule("cosine", "vp")
    with pytest.raises(ValueError, match="family"):
        samplers.resolve_schedule("karras", "flow")


def small_oracle(d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(2, d, generator=g, dtype=torch.float64)
    A = torch.randn(2, d, d, generator=g, dtype=torch.float64) * 0.05
    covs = A @ A.transpose(1, 2) + 1e-3 * torch.eye(d, dtype=torch.float64)
    return GaussianMixtureDenoiser(torch.tensor([0.6, 0.4], dtype=torch.float64), means, covs, sample_shape=(1, 4, 4))


def dispatch_specs():
    cfg = config(e={"models": ["oracle"], "samplers": list(samplers.SAMPLERS), "schedules": ["karras"], "steps": [2],
                    "tasks": ["uncond", "inpaint"], "n_images": 3, "n_targets": 1, "samples_per_target": 2,
                    "sampler_options": {"ncsn": {"n_steps_each": 2}, "native-ncsn": {"n_steps_each": 2}}})
    return {(s["sampler"], s["task"]): s for s in grid.expand(cfg).values()}


@pytest.mark.parametrize("key", sorted(dispatch_specs()))
def test_every_sampler_dispatches_on_the_oracle_for_two_steps(key):
    spec = dispatch_specs()[key]
    row = samplers.get(spec["sampler"])
    samplers.resolve(row.algorithm)
    with torch.no_grad():
        out = sampling.run_sampler(spec, small_oracle(), [0, 1], dtype=torch.float64)
    assert out["x"].shape == (2, 1, 4, 4) and torch.isfinite(out["x"]).all()
    assert ("inverse" in out) == (spec["task"] != "uncond")


def test_dispatch_follows_the_row(monkeypatch):
    """A new sampler is one row and one function: run_sampler calls the row's runner with the SamplerCall."""
    seen = {}

    def run_fake(call):
        seen["call"] = call
        return torch.zeros_like(call.x_T)

    monkeypatch.setattr(sampling, "run_fake", run_fake, raising=False)
    row = samplers.Sampler("fake", "native", ("schedule", "steps"), "rwbench.run.runners.run_fake", "rwbench.run.runners.run_fake")
    monkeypatch.setitem(samplers.SAMPLERS, "fake", row)
    spec = next(iter(grid.expand(config(e={"models": ["oracle"], "samplers": ["fake"], "steps": [3]})).values()))
    out = sampling.run_sampler(spec, small_oracle(), [4])
    assert seen["call"].row is row and seen["call"].indices == [4] and out["x"].shape == (1, 1, 4, 4)
    assert spec["nfe"] == 3 and spec["sampler_kind"] == "native"


def test_a_row_must_declare_its_axes():
    with pytest.raises(ValueError, match="unknown axes"):
        samplers.Sampler("bad", "native", ("steps", "schedule", "omega"), "x.y", "x.y")
    with pytest.raises(ValueError, match="fixed_schedule"):
        samplers.Sampler("bad", "native", ("steps",), "x.y", "x.y")


@pytest.mark.parametrize("convention", ["paper", "released"])
def test_ncsn_convention_is_a_config_option_and_template_equals_native(convention):
    """`sampler_options: {ncsn: {convention: released}}` runs what ermongroup/ncsn runs (twice Alg. 1's step, a uniform
    start), in the template and natively, and the two agree to rounding error with the same per-image noise."""
    opts = {"n_steps_each": 2, "eps": 2e-3, "convention": convention}
    cfg = config(e={"models": ["oracle"], "samplers": ["ncsn", "native-ncsn"], "schedules": ["geometric"], "steps": [6],
                    "n_images": 2, "sampler_options": {"ncsn": opts, "native-ncsn": opts}})
    specs = {s["sampler"]: s for s in grid.expand(cfg).values()}
    assert all(f"convention={convention}" in s["run_id"] for s in specs.values())
    wp = sampling.walk_params(specs["ncsn"], small_oracle())
    assert wp.init == ("uniform" if convention == "released" else "normal")
    levels = sampling.ladder(dict(specs["ncsn"], steps=3), small_oracle())
    factor = 1.0 if convention == "released" else 0.5            # tau = eps (sigma / sigma_L)^2, half of it in Alg. 1
    assert torch.allclose(wp.taus[::2], factor * 2e-3 * levels**2 / levels[-1] ** 2, rtol=1e-14, atol=0)
    with torch.no_grad():
        out = {k: sampling.run_sampler(s, small_oracle(), [0, 1], dtype=torch.float64)["x"] for k, s in specs.items()}
    assert torch.allclose(out["ncsn"], out["native-ncsn"], rtol=1e-10, atol=1e-12)
    x_T, _ = sampling.initial_noise(specs["ncsn"], [0, 1])
    if convention == "released":   # a uniform start: Phi of the image's own normal draw, in (0, 1)
        assert torch.all((wp.initial(x_T) > 0) & (wp.initial(x_T) < 1))


def test_ncsn_convention_must_be_known():
    cfg = config(e={"models": ["oracle"], "samplers": ["ncsn"], "steps": [4], "n_images": 1,
                    "sampler_options": {"ncsn": {"n_steps_each": 2, "convention": "official"}}})
    spec = next(iter(grid.expand(cfg).values()))
    with pytest.raises(ValueError, match="convention"):
        sampling.walk_params(spec, small_oracle())


def test_the_table_grid_and_plan_stay_torch_free():
    """The Snakefile and `rwbench plan` (one job per run, or per pack) import the table and the grid: no torch."""
    import subprocess
    import sys

    code = ("import sys; from rwbench.plan import grid, samplers, config; "
            "cfg = config.load_config('config/default.yaml'); specs = grid.expand(cfg); "
            "assert specs and all(s['nfe'] > 0 for s in specs.values()); "
            "bad = [m for m in ('torch', 'numpy', 'pandas') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
