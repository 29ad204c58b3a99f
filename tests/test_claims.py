"""The claims ledger: declarations (rwbench.plan.claims), decision rules, the energy-distance jackknife, design and
power, and the ledger on fake oracle runs (rwbench.analysis.claims, `rwbench claims`)."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rwbench.analysis import claims as ledger
from rwbench.metrics import intervals as iv
from rwbench.plan import claims as plan_claims
from rwbench.plan.config import load_and_validate, validate_config


def _iv(lo, hi, level=0.95, est=None):
    est = (lo + hi) / 2 if est is None else est
    return iv.Interval(est, lo, hi, (hi - lo) / 4, 0.01, 100, "t", level)


@pytest.mark.parametrize("lo, hi, expect, want", [
    (-0.3, -0.1, "a < b", "supported"), (-0.3, -0.1, "a > b", "contradicted"), (0.1, 0.3, "a > b", "supported"),
    (0.1, 0.3, "a < b", "contradicted"), (-0.1, 0.2, "a < b", "undecided"), (-0.1, 0.2, "a > b", "undecided")])
def test_difference_decisions(lo, hi, expect, want):
    assert ledger.decide(_iv(lo, hi), "difference", expect=expect) == want


@pytest.mark.parametrize("lo, hi, better, want", [
    (-0.01, 0.001, "lower", "supported"), (0.003, 0.01, "lower", "contradicted"), (-0.01, 0.003, "lower", "undecided"),
    (-0.001, 0.01, "higher", "supported"), (-0.01, -0.003, "higher", "contradicted")])
def test_non_inferiority_decisions(lo, hi, better, want):
    assert ledger.decide(_iv(lo, hi, 0.90), "non-inferiority", margin=0.002, better=better) == want


@pytest.mark.parametrize("lo, hi, want", [(-0.04, 0.04, "supported"), (-0.2, -0.06, "contradicted"),
                                          (0.05, 0.2, "contradicted"), (-0.08, 0.01, "undecided")])
def test_equivalence_decisions(lo, hi, want):
    assert ledger.decide(_iv(lo, hi, 0.90), "equivalence", margin=0.05) == want


def test_decisions_refuse_missing_margin_or_sign():
    with pytest.raises(ValueError, match="margin"):
        ledger.decide(_iv(0, 1, 0.9), "equivalence")
    with pytest.raises(ValueError, match="expect"):
        ledger.decide(_iv(0, 1), "difference")


def test_design_power_and_mdd_agree():
    n = ledger.design_n(0.3, 0.05, "difference")
    assert ledger.power(0.3 / math.sqrt(n), 0.05, "difference") >= 0.8 > ledger.power(0.3 / math.sqrt(n - 2), 0.05,
                                                                                      "difference")
    # 80 % power exactly at the minimal detectable difference
    assert ledger.power(0.01, ledger.mdd(0.01, "equivalence"), "equivalence") == pytest.approx(0.8, abs=1e-12)
    assert ledger.design_n(1.0, 1.0, "non-inferiority") == math.ceil((1.6448536 + 0.8416212) ** 2)


def _config():
    config = load_and_validate("config/default.yaml")
    return copy.deepcopy(config)


def test_default_config_declares_the_issue_claims():
    claims = plan_claims.check_claims(_config())
    assert {"table2-identities", "walk100-noninferior-ddpm1000", "tk02-vs-tk1-oracle", "linear-ladder-worse",
            "ve-vs-vp-template", "step-factor-spread"} <= set(claims)
    assert claims["walk100-noninferior-ddpm1000"]["question"] == "non-inferiority"
    assert sum(c.startswith("calibrated-") for c in claims) == 6
    for cid, claim in claims.items():
        assert claim.get("statement"), cid


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("margin"), "margin D > 0"),
    (lambda c: c.update(question="superiority"), "'superiority' is not one of"),
    (lambda c: c["a"].update(experiment="nope"), "a.experiment 'nope'"),
    (lambda c: c.update(colour="red"), "unknown key"),
    (lambda c: c.pop("margin_reason"), "margin_reason"),
])
def test_bad_claims_get_one_line(edit, message):
    config = _config()
    edit(config["claims"]["walk100-noninferior-ddpm1000"])
    with pytest.raises(ValueError, match=message) as err:
        validate_config(config, "cfg")
    assert "\n" not in str(err.value) and "claims.walk100-noninferior-ddpm1000" in str(err.value)


def test_confirmatory_runs_cannot_use_pilot_seeds():
    config = _config()
    config["experiments"]["nfe-oracle"]["seeds"] = [0, plan_claims.PILOT_SEED_BASE + 1]
    with pytest.raises(ValueError, match="pilot"):
        validate_config(config, "cfg")


def test_design_file_covers_every_claim_on_pilot_seeds():
    config = _config()
    designs = ledger.read_design(config["claims_design"])
    claims = plan_claims.check_claims(config)
    assert set(claims) == set(designs)
    used = {int(s) for exp in config["experiments"].values() for s in (exp.get("seeds") or [exp.get("seed", 0)])}
    for cid, design in designs.items():
        for seed in design.get("pilot_seeds", []):
            assert seed >= plan_claims.PILOT_SEED_BASE and seed not in used, cid


# ------------------------------------------------------------------------------------------- the ledger end to end


def _oracle_runs(tmp_path, shift_b: float):
    """A tiny oracle and two fake evaluated cells a and b (image i of b = image i of a shifted), as evaluate writes them."""
    from rwbench.io import write_json
    from rwbench.metrics import exact
    from rwbench.models.denoisers import GaussianMixtureDenoiser
    from rwbench.plan.grid import expand_experiment
    from rwbench.run import rundir
    from rwbench.data import to_uint8

    g = torch.Generator().manual_seed(0)
    d = 16
    means = 0.5 + 0.1 * torch.randn(2, d, generator=g, dtype=torch.float64)
    covs = torch.stack([0.01 * torch.eye(d, dtype=torch.float64)] * 2)
    oracle = GaussianMixtureDenoiser(torch.tensor([0.5, 0.5], dtype=torch.float64), means, covs, sample_shape=(1, 4, 4))
    folder = tmp_path / "oracle"
    folder.mkdir()
    oracle.save(folder / "digits-gmm.safetensors")
    ref = to_uint8(oracle.sample(400, generator=torch.Generator().manual_seed(1)))
    model = {"family": "oracle", "dataset": "digits", "resolution": 4, "channels": 1, "data_range": [0, 1],
             "checkpoint": str(folder), "sigma_min": 0.01, "sigma_max": 8.5,
             "reference": {"kind": "file", "path": str(tmp_path / "ref.pt")}}
    torch.save(ref, tmp_path / "ref.pt")
    config = {"results_dir": str(tmp_path), "reports_dir": str(tmp_path / "reports"), "models": {"digits-oracle": model},
              "experiments": {"e": {"models": ["digits-oracle"], "samplers": ["simplified"], "schedules": ["geometric"],
                                    "steps": [10], "TK": [0.2, 1.0], "n_images": 300, "shard_size": 300}},
              "claims": {"scaled-spread": {"statement": "T_K 0.2 is narrower", "a": {"experiment": "e", "TK": 0.2},
                                           "b": {"experiment": "e", "TK": 1.0}, "metric": "variance_ratio",
                                           "question": "difference", "expect": "a < b"},
                         "exact-variance": {"statement": "T_K 1 keeps the variance", "a": {"experiment": "e", "TK": 1.0},
                                            "b": "exact", "metric": "variance_ratio", "question": "equivalence",
                                            "margin": 0.2, "margin_reason": "test"},
                         "closer": {"statement": "T_K 1 is closer to exact", "a": {"experiment": "e", "TK": 1.0},
                                    "b": {"experiment": "e", "TK": 0.2}, "metric": "energy_distance",
                                    "question": "difference", "expect": "a < b"}}}
    validate_config(config, "test")
    x = oracle.sample(300, generator=torch.Generator().manual_seed(2)).float()
    consts = exact.reference_constants(oracle, ref)
    mu = oracle.mean.reshape(1, 1, 4, 4).float()
    for spec in expand_experiment(config, "e"):
        run = tmp_path / "runs" / spec["run_id"]
        write_json(run / "spec.json", spec)
        y = x if spec["params"]["TK"] == 1.0 else mu + shift_b * (x - mu)
        rundir.save_torch({"index": torch.arange(300), "sample": y, "sample_uint8": to_uint8(y),
                           "diverged": torch.zeros(300, dtype=torch.bool)}, run / "shards" / "shard-00000.pt")
        em = exact.ExactMetrics(oracle, y, to_uint8(y), ref, consts)
        t = em.tensors()
        t["index"] = torch.arange(300)
        assert torch.allclose(t["variance_ratio"], exact.variance_ratios(oracle, y), atol=0, rtol=1e-12)
        rundir.write_features(run, t, {"energy_yy": repr(consts["energy_yy"]), "logp_mean": repr(consts["logp_mean"])})
    return config


def test_ledger_decides_true_claims_and_writes_its_files(tmp_path):
    config = _oracle_runs(tmp_path, 0.6)          # T_K 0.2 cell: exact draws shrunk to 0.36 of their spread
    frame = ledger.ledger(config, tmp_path / "runs", tmp_path / "reports", tmp_path / "cache")
    rows = frame.set_index("claim")
    assert rows.loc["scaled-spread", "decision"] == "supported"
    assert rows.loc["scaled-spread", "estimate"] < -0.3
    assert rows.loc["exact-variance", "decision"] == "supported"        # exact draws: variance ratio 1 +- MC error
    assert rows.loc["closer", "decision"] == "supported"
    assert "U-statistic variance" in rows.loc["closer", "method"]
    csv_path, md_path = ledger.write_ledger(frame, tmp_path / "reports")
    back = pd.read_csv(csv_path)
    for col in ["claim", "question", "metric", "a_runs", "b_runs", "estimate", "ci_lo", "ci_hi", "margin", "decision",
                "n", "seeds", "method", "power"]:
        assert col in back.columns
    assert "3 declared claims: 3 supported" in md_path.read_text()


def test_ledger_contradicts_a_false_claim(tmp_path):
    config = _oracle_runs(tmp_path, 0.6)
    config["claims"]["scaled-spread"]["expect"] = "a > b"            # the false sign
    frame = ledger.ledger(config, tmp_path / "runs", tmp_path / "reports", tmp_path / "cache").set_index("claim")
    assert frame.loc["scaled-spread", "decision"] == "contradicted"


def test_claims_command(tmp_path, capsys):
    import yaml

    from rwbench.commands import main

    config = _oracle_runs(tmp_path, 0.6)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["claims", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "supported  scaled-spread" in out and (tmp_path / "reports" / "claims.md").is_file()


def test_confirmatory_config_runs_the_claims_at_their_designed_n(tmp_path):
    import yaml

    from rwbench.tools.design import confirmatory

    config = _config()
    designs = ledger.read_design(config["claims_design"])
    text = confirmatory(copy.deepcopy(config), designs, "config/default.yaml")
    out = yaml.safe_load(text)
    validate_config(copy.deepcopy(out), "confirmatory")
    assert set(out["experiments"]) == set(plan_claims.claim_experiments(plan_claims.check_claims(config)))
    n = designs["walk100-noninferior-ddpm1000"]["n"]
    assert out["experiments"]["nfe-oracle"]["n_images"] == max(min(n, 25_000),
                                                                config["experiments"]["nfe-oracle"]["n_images"])
    assert out["results_dir"] == "results/confirmatory"
