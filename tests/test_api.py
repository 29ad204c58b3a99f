"""The library API (rwbench.tools.api, re-exported by rwbench): one ladder convention (K levels, no trailing 0) that
walks and solvers share, --seeds parsing, sampler options the table does not give a sampler refused, models loaded
from presets."""

from __future__ import annotations

import pytest
import torch

import rwbench
from rwbench.plan import oneshot
from rwbench.run import runners


@pytest.mark.parametrize("name", ["sigmoid", "linear", "geometric", "karras"])
def test_a_ladder_is_K_decreasing_levels_without_a_trailing_zero(name):
    sigmas = rwbench.ladder(name, 7, 0.02, 8.5)
    assert sigmas.dtype == torch.float64 and sigmas.shape == (7,)
    assert bool((sigmas[1:] < sigmas[:-1]).all()) and float(sigmas[-1]) > 0
    # the span [sigma_min, sigma_max] (the sigmoid ladder clips its fraction at 1e-9, eq. 25: sigma_min + 8.48e-9)
    assert abs(float(sigmas[0]) - 8.5) < 1e-12 and abs(float(sigmas[-1]) - 0.02) < 1e-8


def test_walks_and_solvers_use_the_public_ladder_and_solvers_append_the_zero():
    spec = {"family": "oracle", "schedule": "karras", "steps": 9, "sigma_min": 0.01, "sigma_max": 8.5}
    public = rwbench.ladder("karras", 9, 0.01, 8.5)
    assert torch.equal(runners.ladder(spec, None), public)                       # the template walk's levels
    assert torch.equal(runners.solver_sigmas(spec, None), torch.cat([public, public.new_zeros(1)]))   # + [0]
    # "pretrained": the family's rule (rwbench.plan.samplers.resolve_schedule)
    vp = dict(spec, family="vp", schedule="pretrained")
    denoiser = type("VP", (), {"betas": None})()
    assert torch.equal(runners.ladder(vp, denoiser), rwbench.ladder("pretrained", 9, family="vp"))
    assert torch.equal(rwbench.ladder("pretrained", 9, 0.01, 8.5, family="oracle"),
                       rwbench.ladder("geometric", 9, 0.01, 8.5))
    with pytest.raises(ValueError, match="family="):
        rwbench.ladder("pretrained", 9, 0.01, 8.5)
    with pytest.raises(ValueError, match="sigma_min and sigma_max"):
        rwbench.ladder("karras", 9)


def test_seeds_are_ranges_and_lists():
    assert oneshot.parse_seeds("0-3") == [0, 1, 2, 3]
    assert oneshot.parse_seeds("1,5,9-12") == [1, 5, 9, 10, 11, 12]
    assert oneshot.parse_seeds(" 7 ") == [7]
    assert oneshot.parse_seeds(range(3)) == [0, 1, 2]
    for bad, match in (("3-1", "backwards"), ("1,,2", "ranges and lists"), ("a", "ranges and lists"),
                       ("1,2,1", "listed twice"), ("-1", "ranges and lists"), ([], "no seeds")):
        with pytest.raises(ValueError, match=match):
            oneshot.parse_seeds(bad)
    assert oneshot.seed_file(123) == "seed000123.png" and oneshot.SEED_PATTERN.match("seed000123.png")


def test_options_a_sampler_does_not_take_are_refused_by_the_table():
    assert oneshot.option_problem("simplified", {"c": 0.3, "T0": 0.2, "steps": 5, "variance": None}) is None
    assert "sampler ddpm does not take c (it takes steps, variance)" in oneshot.option_problem("ddpm", {"c": 0.3})
    assert "--ancestral-eta" in oneshot.option_problem("heun", {"ancestral_eta": 1.0},
                                                       spell=lambda n: "--" + n.replace("_", "-"))
    assert "not a sampler parameter" in oneshot.option_problem("simplified", {"zeta": 1.0})
    with pytest.raises(ValueError, match="does not take c"):
        rwbench.sample("digits-oracle", "ddpm", seeds=[0], c=0.3)


def test_presets_come_from_the_installed_default_config():
    import yaml

    from rwbench.tools.oneshot import one_cell_spec

    shipped = yaml.safe_load(oneshot.DEFAULT_CONFIG.read_text())["models"]
    assert rwbench.list_models() == sorted(shipped) and "digits-oracle" in shipped
    spec = one_cell_spec(None, "digits-vp", "simplified", "2,4", results_dir="elsewhere")
    assert spec["checkpoint"] == "elsewhere/embedded/vp" and spec["seeds"] == [2, 4] and spec["n_images"] == 2
    assert one_cell_spec(None, "digits-vp", "simplified", [0], checkpoint="/w/vp")["checkpoint"] == "/w/vp"
    with pytest.raises(ValueError, match="did you mean 'digits-vp'"):
        one_cell_spec(None, "digits-vpp", "simplified", [0])
