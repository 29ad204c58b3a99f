"""Hostile input (issue 25): no config value reaches a shell. Names and the device are refused with one line at
validation; every other string a rule reads (paths, options) is passed to rwbench quoted and arrives verbatim. The
payload would touch a marker file if any shell evaluated it."""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rwbench.plan.config import validate_config

ROOT = Path(__file__).resolve().parent.parent
# a quote, a double quote, command substitution both ways and a command separator; no braces and no slash (so that
# it fits in a file name)
PAYLOAD = "x' $(touch \"$RWBENCH_MARKER\") `touch \"$RWBENCH_MARKER\"` \"q\" ;y"


def smoke():
    return yaml.safe_load((ROOT / "config/smoke.yaml").read_text())


REFUSED = {
    "model name": (lambda c: c["models"].__setitem__(PAYLOAD, c["models"]["digits-vp"]), "models"),
    "experiment name": (lambda c: c["experiments"].__setitem__(PAYLOAD, c["experiments"]["schedules"]), "experiments"),
    "model of an experiment": (lambda c: c["experiments"]["schedules"].__setitem__("models", [PAYLOAD]),
                               "experiments.schedules.models.0"),
    "device": (lambda c: c.__setitem__("device", f"cpu {PAYLOAD}"), "device"),
    "results_dir with braces": (lambda c: c.__setitem__("results_dir", "results/{run_id}"), "results_dir"),
    "reports_dir with braces": (lambda c: c.__setitem__("reports_dir", "reports/{x}"), "reports_dir"),
    "extractor weights with braces": (lambda c: c["metrics"].__setitem__("extractor_weights", "{w}.pt"),
                                      "metrics.extractor_weights"),
    "reference file with braces": (lambda c: c["models"]["digits-oracle"]["reference"].__setitem__("path", "{p}"),
                                   "models.digits-oracle.reference.path"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_names_device_and_wildcard_braces_are_refused_in_one_line(case):
    change, key = REFUSED[case]
    config = smoke()
    change(config)
    with pytest.raises(ValueError) as refused:
        validate_config(config, "hostile.yaml")
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"hostile.yaml: {key}: "), message


def test_every_accepted_name_still_validates():
    config = smoke()
    config["models"]["Net_2.b-1"] = copy.deepcopy(config["models"]["digits-vp"])
    config["experiments"]["0.e_x-1"] = dict(config["experiments"]["schedules"], models=["Net_2.b-1"])
    for device in ("cpu", "cuda", "cuda:1", "mps"):
        validate_config(dict(copy.deepcopy(config), device=device))


def snakemake(*args, marker: Path, timeout=600):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               RWBENCH_MARKER=str(marker), RWBENCH_NO_PROGRESS="1")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


@pytest.fixture()
def hostile(tmp_path):
    """A tiny config whose every string a rule reads carries the payload: the results and reports folders, the config
    file and the embedded config file, the extractor weights, a file reference, a dataset reference's split, the
    schedules of the schedules table and the equivalence pairs."""
    marker = tmp_path / "marker"
    config = smoke()
    oracle, vp = config["models"]["digits-oracle"], config["models"]["digits-vp"]
    paths = {"results": tmp_path / f"res {PAYLOAD}", "reports": tmp_path / f"rep {PAYLOAD}",
             "config": tmp_path / f"cfg {PAYLOAD}.yaml", "embedded": tmp_path / f"emb {PAYLOAD}.yaml",
             "weights": tmp_path / f"w {PAYLOAD}.safetensors", "reference": tmp_path / f"ref {PAYLOAD}.safetensors"}
    shutil.copy(ROOT / "config/embedded-smoke.yaml", paths["embedded"])
    paths["weights"].write_bytes(b"")
    paths["reference"].write_bytes(b"")
    config.update(
        results_dir=str(paths["results"]), reports_dir=str(paths["reports"]), embedded_config=str(paths["embedded"]),
        models={"o": dict(oracle, reference={"kind": "file", "path": str(paths["reference"])}),
                "v": dict(vp, reference={"kind": "dataset", "dataset": "digits", "split": PAYLOAD, "resolution": 16})},
        metrics=dict(config["metrics"], extractor_weights=str(paths["weights"])),
        schedules_table={"schedules": [PAYLOAD], "steps": "3"},
        equivalence={"steps": 2, "batch": 1, "pairs": PAYLOAD},
        experiments={"e": {"figure": "cross", "models": ["o", "v"], "samplers": ["simplified"],
                           "schedules": ["geometric"], "steps": [2], "n_images": 2}})
    paths["config"].write_text(yaml.safe_dump(config))
    return paths, marker


def commands(transcript: str) -> list[list[str]]:
    """Each job's shell command as the shell splits it (every value is single-quoted, which shlex reads as bash
    does); a `batch` job's commands split once more, as rwbench batch does."""
    out = []
    for line in re.findall(r"^Shell command: (.*)$", transcript, re.M):
        argv = shlex.split(line)
        out.append(argv)
        if "batch" in argv:
            rest = argv[argv.index("batch") + 1:argv.index(">")]
            while rest and rest[0] in ("--log", "--cells"):      # batch's own options (a pack's failure records)
                rest = rest[2:]
            out += [shlex.split(c) for c in rest]
    return out


def value_after(argvs, option):
    return {argv[i + 1] for argv in argvs for i, a in enumerate(argv[:-1]) if a == option}


@pytest.mark.slow
@pytest.mark.parametrize("packs", [0, 2])
def test_shell_payloads_in_config_strings_arrive_verbatim(hostile, packs):
    paths, marker = hostile
    results = str(paths["results"])
    base = ("--configfile", str(paths["config"]), "--config", f"packs={packs}", "--cores", "1")
    dry = snakemake("-n", "-p", *base, marker=marker)
    assert dry.returncode == 0, dry.stdout[-3000:]
    argvs = commands(dry.stdout)
    assert value_after(argvs, "--config") == {str(paths["config"]), str(paths["embedded"])}
    assert value_after(argvs, "--results-dir") == {results}
    assert value_after(argvs, "--extractor-weights") == {str(paths["weights"])}
    assert value_after(argvs, "--file") == {str(paths["reference"])}
    assert value_after(argvs, "--split") == {PAYLOAD}
    assert value_after(argvs, "--schedules") == {PAYLOAD} and value_after(argvs, "--pairs") == {PAYLOAD}
    assert all(log.startswith(f"{results}/logs/") for log in value_after(argvs, ">"))
    assert str(paths["reports"]) in value_after(argvs, "--out")
    for argv in argvs:      # no value arrives cut: a token holding part of the payload holds all of it
        own = argv[:argv.index("batch")] + argv[argv.index(">"):] if "batch" in argv else argv  # batch: split above
        assert all(PAYLOAD in a for a in own if "RWBENCH_MARKER" in a), argv
    # real jobs: plan (torch-free) writes the specs under the payload folder; the schedules and equivalence jobs get
    # the payload as their option and refuse it by name (their logs quote it); nothing touched the marker
    specs = sorted(f"{results}/runs/{r}/spec.json" for r in re.findall(r"--run (\S+)", dry.stdout)
                   if r.startswith("e__"))
    tables = [f"{results}/tables/schedules.csv", f"{results}/tables/equivalence.csv"]
    real = snakemake(*specs, *tables, "--keep-going", *base, marker=marker)
    assert real.returncode != 0 and not marker.exists(), real.stdout[-3000:]
    assert specs and all(Path(s).is_file() for s in specs)
    spec = yaml.safe_load(Path(next(s for s in specs if "__o__" in s)).read_text())
    assert spec["reference"]["path"] == str(paths["reference"])
    assert f"unknown schedule {PAYLOAD!r}" in Path(f"{results}/logs/schedules_table.log").read_text()
    assert f"unknown pair(s) {PAYLOAD};" in Path(f"{results}/logs/equivalence_table.log").read_text()
    assert not marker.exists() and not list(ROOT.glob("*marker*"))


@pytest.mark.slow
def test_a_shell_payload_in_the_device_stops_snakemake_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(dict(smoke(), device=PAYLOAD)))
    marker = tmp_path / "marker"
    res = snakemake("-n", "--configfile", str(bad), "--config", f"results_dir={tmp_path}/r", marker=marker)
    assert res.returncode != 0 and "device: " in res.stdout and "does not match" in res.stdout
    assert "Job stats" not in res.stdout and not marker.exists()


# ---- One failing cell never stops its pack (issue 25, item 4) ----
# A pack job (`rwbench batch --cells`) runs every command of its runs; a failed one leaves FAILED-<stage>.json and
# placeholders, the other runs go on to metrics, the front page lists the failed cell, and snakemake exits non-zero
# naming it. The failure is real: one run's spec.json is tampered with between planning and sampling (it names a
# sampler that does not exist), so that its sample command fails while floors, which read only its reference, go on.


def tiny_pack_config(tmp_path) -> Path:
    """Three oracle runs (one pack): digits oracle, three samplers, 4 images each; no auxiliary tables."""
    config = smoke()
    for key in ("schedules_table", "equivalence", "scalespace"):
        config.pop(key, None)
    config.update(results_dir=str(tmp_path / "results"), reports_dir=str(tmp_path / "reports"), packs=1,
                  models={"digits-oracle": config["models"]["digits-oracle"]},
                  experiments={"cells": {"figure": "cross", "models": ["digits-oracle"],
                                         "samplers": ["simplified", "native-ddpm", "native-ve-sde"],
                                         "reference_sampler": "native-ddpm", "schedules": ["geometric"],
                                         "steps": [4], "n_images": 4}})
    path = tmp_path / "cells.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_a_failing_cell_leaves_the_rest_of_its_pack_and_the_report_and_fails_snakemake_by_name(tmp_path):
    from rwbench.plan import failures

    marker = tmp_path / "marker"
    cfg = ("--configfile", str(tiny_pack_config(tmp_path)), "--cores", "2")
    runs = tmp_path / "results/runs"
    dry = snakemake("-n", *cfg, marker=marker)
    ids = sorted(set(re.findall(r"runs/(cells__[^/\s]+)/spec\.json", dry.stdout)))
    assert dry.returncode == 0 and len(ids) == 3 and "sample_p00" in dry.stdout and "sample_p01" not in dry.stdout
    planned = snakemake(*[str(runs / r / "spec.json") for r in ids], *cfg, marker=marker)
    assert planned.returncode == 0, planned.stdout[-3000:]
    bad = next(r for r in ids if "native-ve-sde" in r)
    good_spec = (runs / bad / "spec.json").read_text()
    (runs / bad / "spec.json").write_text(good_spec.replace('"native-ve-sde"', '"no-such-sampler"'))
    res = snakemake(*cfg, marker=marker)
    assert res.returncode != 0, res.stdout[-3000:]
    lines = [l for l in res.stdout.splitlines() if l.strip().startswith(f"- {bad}: sample failed")]
    assert len(lines) == 1 and "logs/sample/pack-p00.log" in lines[0], res.stdout[-3000:]
    assert "Exiting because a job execution failed" not in res.stdout             # every job itself succeeded
    record = failures.markers(runs / bad)[0]
    assert record["stage"] == "sample" and record["failures"][0]["exit_code"] != 0
    table = __import__("pandas").read_csv(tmp_path / "results/metrics.csv")
    assert sorted(table["run_id"].unique()) == sorted(set(ids) - {bad})          # the rest of the pack has metrics
    summary = (tmp_path / "reports/summary.html").read_text()
    assert "Failed cells" in summary and bad in summary and "sample" in summary
    assert (tmp_path / "reports/figures/cross.png").is_file()
    assert not (runs / bad / "shards/shard-00000.pt").exists()       # placeholders removed: the next run rebuilds
    # the cause fixed, a rerun re-runs the pack that held the cell and what follows, not planning or preparation
    (runs / bad / "spec.json").write_text(good_spec)
    again = snakemake("-n", *cfg, marker=marker).stdout
    assert "rule sample_p00:" in again and "rule evaluate_p00:" in again
    assert "rule plan_p00:" not in again and "rule prepare:" not in again and "rule train:" not in again
    fixed = snakemake(*cfg, marker=marker)
    assert fixed.returncode == 0 and not failures.is_failed(runs / bad), fixed.stdout[-3000:]
    table = __import__("pandas").read_csv(tmp_path / "results/metrics.csv")
    assert sorted(table["run_id"].unique()) == ids
    assert "Failed cells" not in (tmp_path / "reports/summary.html").read_text() and not marker.exists()
