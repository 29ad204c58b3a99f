"""What the Snakefile checks before any job runs (dry runs only): the default workflow profile is loaded, config
typos fail with the closest valid key, missing FFHQ inputs are listed, and a deleted shard of an evaluated run is
rebuilt by a plain `snakemake`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def snakemake(*args, env=None, timeout=600):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {}))
    verbose = ("--quiet", "host") if "-n" in args else ()   # a dry run listing every job (the profile is quiet)
    res = subprocess.run([sys.executable, "-m", "snakemake", *verbose, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=timeout)   # one stream: keeps the order
    return res.returncode, res.stdout


def scratch(tmp_path):
    return ("--config", f"results_dir={tmp_path}/results", f"reports_dir={tmp_path}/reports")


def test_plain_snakemake_loads_the_default_profile(monkeypatch, capsys):
    """Snakemake's own argument parsing, as `snakemake -n` in the repository root sees it (no --workflow-profile)."""
    from snakemake.cli import parse_args

    monkeypatch.chdir(ROOT)
    _, args = parse_args(["-n"])
    assert "Using workflow specific profile profiles/default" in capsys.readouterr().err
    profile = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    assert profile["rerun-incomplete"] is True and profile["keep-going"] is True
    assert args.rerun_incomplete is True and args.keep_going is True and args.cores == profile["cores"]


@pytest.mark.slow
def test_dry_run_says_it_uses_the_default_profile(tmp_path):
    rc, out = snakemake("-n", "--configfile", "config/smoke.yaml", *scratch(tmp_path))
    assert rc == 0, out[-3000:]
    assert "Using workflow specific profile profiles/default for setting default command line arguments" in out


@pytest.mark.slow
def test_config_typo_stops_snakemake_with_the_closest_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config/smoke.yaml").read_text().replace("shard_size: 4", "shard_sise: 4"))
    rc, out = snakemake("-n", "--configfile", str(bad), *scratch(tmp_path))
    assert rc != 0 and "unknown key 'shard_sise' (did you mean 'shard_size'?)" in out


@pytest.mark.slow
def test_missing_ffhq_images_and_checkpoints_are_listed_before_any_job(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/ffhq.yaml").read_text())
    cfg["experiments"] = {"cross": dict(cfg["experiments"]["cross"], n_images=2)}   # both models, few jobs
    path = tmp_path / "ffhq-mini.yaml"
    path.write_text(yaml.safe_dump(cfg))
    (tmp_path / "images").mkdir()
    (tmp_path / "checkpoints").mkdir()
    env = {"RWBENCH_FFHQ_DIR": str(tmp_path / "images"), "RWBENCH_CHECKPOINTS": str(tmp_path / "checkpoints")}
    rc, out = snakemake("-n", "--configfile", str(path), *scratch(tmp_path), env=env)
    assert rc == 0, out[-3000:]
    warning = out.index("needs inputs that are missing")
    assert warning < out.index("Job stats")
    assert f"{tmp_path}/images holds no PNG/JPEG files" in out
    assert f"{tmp_path}/checkpoints/ffhq_10m.pt" in out
    assert f"{tmp_path}/checkpoints/ffhq_256_ncsnpp_continuous/checkpoint_48.pth" in out


@pytest.mark.slow
@pytest.mark.parametrize("packs", [0, 3])
def test_deleted_shard_of_an_evaluated_run_is_rebuilt(tmp_path, packs):
    """Fake a finished smoke DAG (every output present, equal times), delete one shard: a plain dry run resamples it
    and re-evaluates its run (Snakemake alone would report nothing to be done). packs > 0: its pack job does."""
    args = ("-n", "--configfile", "config/smoke.yaml", *scratch(tmp_path), f"packs={packs}")
    rc, out = snakemake(*args)
    assert rc == 0, out[-3000:]
    outputs = {p.strip() for line in re.findall(r"^\s+output: (.*)$", out, re.M) for p in line.split(",")}
    for p in outputs:
        Path(p).parent.mkdir(parents=True, exist_ok=True)
        Path(p).write_bytes(b"")
        os.utime(p, ns=(1_700_000_000 * 10**9,) * 2)
    rc, out = snakemake(*args)
    assert rc == 0 and "Nothing to be done" in out, out[-3000:]
    shard = sorted(p for p in outputs if "/shards/shard-" in p)[0]
    os.unlink(shard)
    rc, out = snakemake(*args)
    assert rc == 0, out[-3000:]
    assert "deleted sample shard(s) will be rebuilt" in out
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    sample = {k: v for k, v in jobs.items() if k.startswith("sample")}
    evaluate = {k: v for k, v in jobs.items() if k.startswith("evaluate")}
    assert list(sample.values()) == ["1"] and list(evaluate.values()) == ["1"], out[-3000:]
    assert (next(iter(sample)) == "sample") == (packs == 0)


@pytest.mark.slow
def test_the_slurm_profile_reaches_the_packed_rules(tmp_path):
    """The profile's set-resources name the per-run rules (sample, evaluate); a dry run through it with packs on gives
    each packed job (sample_p00, evaluate_p00, ...) the resources of its stage."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    profile = yaml.safe_load((ROOT / "workflow/profiles/slurm/config.yaml").read_text())["set-resources"]
    rc, out = snakemake("-n", "--workflow-profile", "workflow/profiles/slurm", "--configfile", "config/smoke.yaml",
                        *scratch(tmp_path), "packs=3", env={"RWBENCH_SLURM_PARTITION": "debug"})
    assert rc == 0, out[-3000:]
    jobs = re.findall(r"^rule ((sample|evaluate)_p\d+):\n(?:    .*\n)*?    resources: (.*)$", out, re.M)
    assert {stage for _, stage, _ in jobs} == {"sample", "evaluate"}
    for name, stage, resources in jobs:
        got = dict(item.split("=", 1) for item in resources.split(", "))
        for key, value in profile[stage].items():
            assert got[key] == str(value), (name, key, got)
