"""`rwbench equivalence`: Table II presets on the template track the native samplers step by step to rounding error."""

import argparse

import pandas as pd
import pytest
import torch

from rwbench.core import presets, schedules
from rwbench.tools import equivalence as lib
from rwbench.commands import equivalence as cmd
from rwbench.models.denoisers import GaussianMixtureDenoiser

EXACT = ["ddpm_beta", "ddpm_beta_tilde", "ncsn", "ve_sde", "euler", "euler_ancestral", "euler_ancestral_eta0.5", "ddim",
         "ddim_eta0.5", "ddim_eta1", "ncsn_released"]


def test_exact_pairs_agree_to_rounding_error_at_every_step():
    table = lib.equivalence_table(lib.synthetic_mixture(3), steps=40, batch=3, seed=3, progress=False)
    assert list(table.columns) == lib.COLUMNS and set(table["pair"]) == set(lib.PAIRS)
    assert set(EXACT) | {"vp_sde"} == set(lib.PAIRS)
    for pair, part in table.groupby("pair"):
        assert list(part["k"]) == list(range(40)), pair
        assert (part["group"] == ("table2" if pair in lib.TABLE2_PAIRS else "solvers")).all(), pair
        if pair in EXACT:
            assert part["exact"].all() and part["max_rel_dev"].max() <= 1e-9, pair
            assert part["max_abs_dev"].max() <= 1e-9, pair
    # the VP-SDE native predictor is a different discretisation: the same comparison sees it
    vp = table[table["pair"] == "vp_sde"]
    assert not vp["exact"].any() and vp["max_rel_dev"].max() > 1e-4


def test_sigma_column_is_the_walk_ladder():
    table = lib.equivalence_table(lib.synthetic_mixture(0), steps=20, batch=1, seed=0, sigma_max=30.0,
                                  pairs=["ve_sde", "ddpm_beta", "ncsn"], progress=False)
    ve = table[table["pair"] == "ve_sde"]["sigma"].to_numpy()
    assert ve == pytest.approx(schedules.geometric(20, 0.01, 30.0).numpy(), rel=1e-15)
    ddpm = table[table["pair"] == "ddpm_beta"]["sigma"].to_numpy()
    assert ddpm == pytest.approx(presets.ddpm(schedules.linear_betas(20)).sigmas.numpy(), rel=1e-15)
    ncsn = table[table["pair"] == "ncsn"]["sigma"].to_numpy()
    assert len(ncsn) == 20 and ncsn[0] == pytest.approx(1.0) and ncsn[-1] == pytest.approx(0.01)


def test_solver_rows_use_their_ladders_and_every_eta_is_exact():
    table = lib.equivalence_table(lib.synthetic_mixture(2), steps=15, batch=2, seed=4, sigma_max=30.0,
                                  pairs=["euler_ancestral", "ddim_eta0.5", "ncsn_released"], progress=False)
    ea = table[table["pair"] == "euler_ancestral"]["sigma"].to_numpy()
    assert ea == pytest.approx(schedules.geometric(15, 0.01, 30.0).numpy(), rel=1e-15)
    full = schedules.linear_betas()
    chain = schedules.respaced_betas(full, schedules.respaced_timesteps(1000, 15))
    ddim = table[table["pair"] == "ddim_eta0.5"]["sigma"].to_numpy()
    assert ddim == pytest.approx(presets.ddim(chain, 0.5).sigmas.numpy(), rel=1e-15) and ddim[0] > 150
    assert table["exact"].all() and table["max_rel_dev"].max() <= 1e-9
    assert list(table["group"].unique()) == ["solvers"]


def test_deviations_measure_abs_and_relative_norms():
    native = torch.ones(2, 3, 1, 2, 2, dtype=torch.float64)
    walk = native.clone()
    walk[1, 2, 0, 0, 0] += 0.5  # step 1, image 2, one entry
    abs_dev, rel_dev = lib.deviations(walk, native)
    assert abs_dev.tolist() == [0.0, 0.5] and rel_dev.tolist() == [0.0, 0.25]  # ||.|| of 4 ones = 2
    with pytest.raises(ValueError, match="shapes differ"):
        lib.deviations(walk[:1], native)


def test_cli_with_a_saved_oracle(tmp_path, capsys):
    path = tmp_path / "gmm.safetensors"
    lib.synthetic_mixture(5, components=2, side=3).save(path)
    out = tmp_path / "eq.csv"
    args = argparse.Namespace(out=str(out), steps=10, batch=2, seed=1, oracle=str(path), sigma_max=50.0,
                              pairs="ddpm_beta,ve_sde", no_progress=True)
    assert cmd.run(args) == 0
    table = pd.read_csv(out)
    assert len(table) == 20 and list(table["pair"].unique()) == ["ddpm_beta", "ve_sde"]
    assert table["max_rel_dev"].max() <= 1e-9
    text = capsys.readouterr().out
    assert "pair=ddpm_beta steps=10 exact=True" in text and "pair=ve_sde" in text
    assert GaussianMixtureDenoiser.load(path).sample_shape == (1, 3, 3)


def test_bad_arguments_fail_with_one_line(tmp_path):
    oracle = lib.synthetic_mixture(0)
    with pytest.raises(ValueError, match="--steps"):
        lib.equivalence_table(oracle, steps=1, progress=False)
    with pytest.raises(ValueError, match="--pairs: unknown pair"):
        lib.equivalence_table(oracle, steps=5, pairs=["lms"], progress=False)
    with pytest.raises(FileNotFoundError, match="rwbench prepare"):
        cmd.run(argparse.Namespace(out=str(tmp_path / "x.csv"), steps=5, batch=1, seed=0,
                                   oracle=str(tmp_path / "missing.safetensors"), sigma_max=50.0, pairs="ncsn",
                                   no_progress=True))
