"""The README's results and timing blocks are generated from the committed ledger snapshot (docs/results/): a test
fails when README numbers and the ledger disagree."""

from pathlib import Path

import pandas as pd
import pytest

from rwbench.tools import readme_results as rr

ROOT = Path(__file__).resolve().parents[1]


def test_readme_blocks_match_the_ledger_snapshot(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert rr.check(ROOT / "README.md") == []


def test_a_changed_ledger_number_is_caught(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    snap = tmp_path / "results"
    snap.mkdir()
    claims = pd.read_csv(ROOT / "docs" / "results" / "claims.csv", keep_default_na=False, na_values=[""])
    claims.loc[0, "estimate"] = float(claims.loc[0, "estimate"] if pd.notna(claims.loc[0, "estimate"]) else 0) + 1.0
    claims.to_csv(snap / "claims.csv", index=False)
    (snap / "timing.json").write_text((ROOT / "docs" / "results" / "timing.json").read_text())
    problems = rr.check(ROOT / "README.md", snap)
    assert len(problems) == 1 and "claims.csv" in problems[0]


def test_timing_keys_are_checked(tmp_path):
    with pytest.raises(ValueError, match="key=value"):
        rr.record_timing(["wallclock=3 s"], tmp_path)
    rr.record_timing(["default_dag=9 min"], tmp_path)
    assert "default DAG" in rr.timing_block(rr._timing(tmp_path)) and "9 min" in rr.timing_block(rr._timing(tmp_path))
