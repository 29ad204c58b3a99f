"""`rwbench schedules`: the tidy ladder table equals rwbench.core.schedules and reproduces the paper's check values."""

import argparse

import pandas as pd
import pytest
import torch

from rwbench.core import schedules as sch
from rwbench.tools import schedule_table as lib
from rwbench.commands import schedules as cmd

ALL = ["vp_pretrained", "sigmoid", "linear", "geometric", "karras"]


def test_table_equals_the_library_ladders_steps_and_temperatures():
    table = lib.schedule_table(ALL, [11, 30])
    assert list(table.columns[:6]) == ["schedule", "K", "k", "sigma", "tau", "temperature"]
    lo, hi = lib.vp_range()
    assert lo == pytest.approx(0.0100005, rel=1e-5) and hi == pytest.approx(157.41, rel=1e-4)  # paper.md section 6
    for (name, K), part in table.groupby(["schedule", "K"]):
        expected = sch.vp_pretrained(K, sch.linear_betas()) if name == "vp_pretrained" else sch.ladder(name, K, lo, hi)
        assert torch.equal(torch.tensor(part["sigma"].to_numpy()), expected)
        assert list(part["k"]) == list(range(K))
        c, T0 = part["c"].iloc[0], part["T0"].iloc[0]
        assert part["tau"].to_numpy() == pytest.approx(c * part["sigma"].to_numpy() ** 2, rel=1e-15)
        assert part["temperature"].iloc[0] == T0 and part["temperature"].iloc[-1] == 1.0
        assert part["temperature"].diff().dropna().to_numpy() == pytest.approx([(1.0 - T0) / (K - 1)] * (K - 1))
    paper = table.drop_duplicates("schedule").set_index("schedule")
    assert (paper.loc["vp_pretrained", "c"], paper.loc["vp_pretrained", "T0"]) == (0.4, 0.4)
    assert (paper.loc["sigmoid", "c"], paper.loc["sigmoid", "T0"]) == (0.7, 0.1)
    assert (paper.loc["geometric", "c"], paper.loc["geometric", "T0"]) == (0.16, 0.4)
    assert (paper.loc["karras", "c"], paper.loc["linear", "T0"]) == (0.4, 0.4)  # no published config: pretrained's


def test_sigmoid_reproduces_the_paper_check_values():
    part = lib.schedule_table(["sigmoid"], [11]).set_index("k")  # u_k = k / 10
    for k, value in ((1, 84.7), (2, 37.5), (3, 14.9), (5, 2.10), (7, 0.283), (10, 0.0100)):
        assert part.loc[k, "sigma"] == pytest.approx(value, rel=3e-3), k


def test_cli_writes_the_csv_with_overrides(tmp_path, capsys):
    out = tmp_path / "t" / "schedules.csv"
    args = argparse.Namespace(schedules="pretrained,geometric", steps="5,8", sigma_min=0.01, sigma_max=348.0, c=0.3,
                              T0=0.2, TK=0.8, out=str(out))
    assert cmd.run(args) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * (5 + 8) and set(table["schedule"]) == {"pretrained", "geometric"}
    geo = table[(table["schedule"] == "geometric") & (table["K"] == 8)]
    assert geo["sigma"].iloc[0] == pytest.approx(348.0, rel=1e-14) and geo["sigma"].iloc[-1] == pytest.approx(0.01)
    pre = table[(table["schedule"] == "pretrained") & (table["K"] == 5)]
    assert pre["sigma"].to_numpy() == pytest.approx(sch.vp_pretrained(5, sch.linear_betas()).numpy(), rel=1e-15)
    assert (table["c"] == 0.3).all() and (table.groupby(["schedule", "K"])["temperature"].last() == 0.8).all()
    assert (table.groupby(["schedule", "K"])["temperature"].first() == 0.2).all()
    assert capsys.readouterr().out.count("schedule=") == 4
    assert [p.name for p in out.parent.iterdir()] == ["schedules.csv"]


def test_bad_arguments_fail_with_one_line():
    with pytest.raises(ValueError, match="--schedules: unknown schedule 'cosine'"):
        lib.schedule_table(["cosine"], [10])
    with pytest.raises(ValueError, match="--steps"):
        cmd.run(argparse.Namespace(schedules="linear", steps="ten", sigma_min=None, sigma_max=None, c=None, T0=None,
                                   TK=1.0, out="unused.csv"))
    with pytest.raises(ValueError, match="sigma_max"):
        lib.schedule_table(["linear"], [10], sigma_min=1.0, sigma_max=0.5)
