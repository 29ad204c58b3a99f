"""Tuning without selection bias (rwbench.tools.tune, `python -m rwbench.tools.bench tune`), run tiny on exact mixtures."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from rwbench.tools import tune
from rwbench.tools.bench import tune as tune_bench
from rwbench.models.oracle import oracle_file
from rwbench.models.denoisers import GaussianMixtureDenoiser
from rwbench.metrics.distances import energy_distance

RES = 4
MODELS = {
    "digits-oracle": {"family": "oracle", "dataset": "digits", "resolution": RES, "channels": 1, "data_range": [0, 1],
                      "checkpoint": None, "sigma_min": 0.02, "sigma_max": 5.0},
    "learned": {"family": "ve", "dataset": "digits", "resolution": RES, "channels": 1, "data_range": [0, 1],
                "checkpoint": None, "sigma_min": 0.02, "sigma_max": 5.0},
}
CONFIG = {"seed": 0, "shard_size": 64, "models": MODELS}


def mixture(seed: int, d: int = RES * RES) -> GaussianMixtureDenoiser:
    g = torch.Generator().manual_seed(seed)
    means = 0.2 + 0.6 * torch.rand(2, d, generator=g, dtype=torch.float64)
    A = torch.randn(2, d, d, generator=g, dtype=torch.float64) * 0.03
    covs = A @ A.transpose(1, 2) + 1e-3 * torch.eye(d, dtype=torch.float64)
    return GaussianMixtureDenoiser(torch.tensor([0.5, 0.5], dtype=torch.float64), means, covs, sample_shape=(1, RES, RES))


GRID = dict(schedules=["karras", "geometric"], cs=[0.5], TKs=[0.6, 1.0], T0=0.4, solvers=["euler", "dpmpp-2m"])


@pytest.fixture(scope="module")
def run():
    oracle = tune.Model("digits-oracle", mixture(0))
    learned_prior = mixture(1)
    reference = learned_prior.sample(32, generator=torch.Generator().manual_seed(5)).clamp(0, 1)
    learned = tune.Model("learned", learned_prior, reference)
    selection = tune.select(CONFIG, oracle, [4, 6], n=16, seed=0, **GRID)
    evaluation = tune.evaluate(CONFIG, [oracle, learned], selection, [4, 6], n=16, replicates=2, seed=100)
    return oracle, learned, selection, evaluation


def test_selection_picks_the_lowest_oracle_energy_distance_per_budget(run):
    _, _, selection, _ = run
    frame = pd.DataFrame(selection)
    assert len(frame) == 2 * (2 * 1 * 2 + 2) and set(frame["seed"]) == {0}
    for (budget, group), part in frame.groupby(["budget", "group"]):
        assert part["chosen"].sum() == 1
        assert part.loc[part["chosen"], "energy_distance"].item() == part["energy_distance"].min()
    assert list(frame[frame["sampler"] == "dpmpp-2m"]["nfe"]) == [4, 6]


def test_evaluation_uses_fresh_seeds_and_recomputes_exactly(run):
    oracle, learned, selection, evaluation = run
    frame = pd.DataFrame(evaluation)
    assert set(frame["seed"]) == {100, 101} and not set(frame["seed"]) & {0}
    assert set(frame["role"]) == set(tune.ROLES) and set(frame["model"]) == {"digits-oracle", "learned"}
    chosen = tune.settings(selection, 6)["template-tuned"]
    row = frame[(frame["role"] == "template-tuned") & (frame["budget"] == 6) & (frame["model"] == "digits-oracle")
                & (frame["replicate"] == 1)].iloc[0]
    assert (row["schedule"], row["c"], row["TK"]) == (chosen["schedule"], chosen["c"], chosen["TK"])
    # recompute that cell by hand: the walk with seed 101 against exact draws with seed 101
    spec = tune._spec(CONFIG, "digits-oracle", "simplified", 6, 101, 16, schedule=chosen["schedule"], c=chosen["c"],
                      T0=chosen["T0"], TK=chosen["TK"])
    from rwbench.run.runners import run_sampler

    x = run_sampler(spec, oracle.denoiser, range(16), dtype=torch.float64)["x"]
    assert row["energy_distance"] == energy_distance(x, tune.exact_draws(oracle.denoiser, 16, 101))
    # the same setting's selection score (seed 0) is a different number: fresh noise, fresh exact draws
    sel = pd.DataFrame(selection)
    picked = sel[(sel["budget"] == 6) & (sel["group"] == "template") & sel["chosen"]]["energy_distance"].item()
    assert picked != row["energy_distance"]


def test_summary_intervals_are_student_t_over_replicates(run):
    *_, evaluation = run
    summary = tune.summarize(evaluation)
    frame = pd.DataFrame(evaluation)
    cell = summary[(summary["model"] == "learned") & (summary["budget"] == 4) & (summary["role"] == "dpmpp-2m")].iloc[0]
    v = frame[(frame["model"] == "learned") & (frame["budget"] == 4) & (frame["role"] == "dpmpp-2m")]["energy_distance"]
    half = 12.706204736174698 * v.std(ddof=1) / math.sqrt(2)   # t_0.975 with 1 degree of freedom
    assert cell["energy_distance"] == pytest.approx(v.mean(), rel=1e-12)
    assert cell["ci_hi"] - cell["energy_distance"] == pytest.approx(half, rel=1e-9) and cell["replicates"] == 2


def test_bench_tune_runs_tiny_end_to_end(tmp_path, capsys):
    folder = tmp_path / "oracle"
    folder.mkdir()
    mixture(0).save(oracle_file(folder, "digits"))
    cfg = tmp_path / "cfg.yaml"
    models = {"digits-oracle": dict(MODELS["digits-oracle"], checkpoint=str(folder))}
    import yaml

    cfg.write_text(yaml.safe_dump({"models": models, "experiments": {}}))
    out = tmp_path / "out"
    assert tune_bench.main(["--config", str(cfg), "--models", "", "--budgets", "4", "--schedules", "karras",
                            "--c", "0.5", "--TK", "1.0", "--solvers", "euler", "--n", "8", "--replicates", "2",
                            "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "role=template-tuned" in text and "role=dpmpp-2m" in text
    for name in ("selection.csv", "evaluation.csv", "summary.csv", "tune.png"):
        assert (out / name).is_file()
    with pytest.raises(ValueError, match="--seed"):
        tune_bench.main(["--config", str(cfg), "--models", "", "--seed", "1000", "--out", str(out)])
