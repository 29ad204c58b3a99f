"""Conda: every rule's environment (workflow/envs/rwbench.yaml) works from the copy Snakemake builds it from: it installs
no path relative to itself (no `-e .`), and jobs run the checkout's rwbench instead. `snakemake --sdm conda -n` runs
where conda or mamba is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV = ROOT / "workflow" / "envs" / "rwbench.yaml"


def test_every_rule_uses_the_rules_environment():
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        if path.name == "common.smk":
            continue
        text = path.read_text()
        rules = re.findall(r"(?m)^\s*rule\b", text)
        assert text.count("conda:\n") == len(rules) and text.count("CONDA_ENV") == len(rules), path.name
        assert "environment.yml" not in text, f"{path.name}: the root environment.yml installs `-e .`"
        assert not re.search(r'(?m)^\s*"rwbench ', text), f"{path.name}: a rule runs the installed `rwbench`"
        # every command line comes from a builder of common.smk, run through rwbench_line (RWBENCH, quoted values)
        # ... and every shell is LOGGED: the quoted command line, then its output, into the job's log
        assert len(re.findall(r"(?m)^\s*LOGGED$", text)) == len(rules), path.name
        assert text.count("rwbench_line(") == len(rules), path.name
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    assert 'CONDA_ENV = "../envs/rwbench.yaml"' in common and "python -m rwbench.cli" in common
    assert "{params.command:q} > {log:q}; {params.command} >> {log:q} 2>&1" in common


def test_the_environment_installs_no_relative_path():
    env = yaml.safe_load(ENV.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not [p for p in pip if p.startswith(("-e", ".", "/", "file:")) or "rwbench" in p]
    # the same pinned packages as the root environment and pyproject
    for name in ("torch==2.14.1", "torch-fidelity==0.4.0", "lpips==0.1.4"):
        assert name in pip


def test_a_job_command_runs_without_an_installed_rwbench(tmp_path):
    """The rules' command line works from another folder with only PYTHONPATH pointing at the checkout."""
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    assert 'f"env PYTHONPATH={quote(workflow.basedir)} OMP_NUM_THREADS={int(config[\'threads\'])} python -m rwbench.cli"' \
        in common
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "rwbench.cli", "--version"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("rwbench ")


@pytest.mark.skipif(not (shutil.which("conda") or shutil.which("mamba")),
                    reason="conda/mamba not installed: `snakemake --sdm conda -n` cannot be checked here")
def test_snakemake_sdm_conda_dry_run(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    res = subprocess.run([sys.executable, "-m", "snakemake", "--sdm", "conda", "-n", "--configfile", "config/smoke.yaml",
                          "--config", f"results_dir={tmp_path}/r", f"reports_dir={tmp_path}/p"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
