"""Hostile input (issue 25): no config value reaches a shell. Names and the device are refused with one line at
validation; every other string a rule reads (paths, options) is passed to rwbench quoted and arrives verbatim. The
payload would touch a marker file if any shell evaluated it."""

from __future__ import annotations

import copy
import json
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
    config["models"]["Net_2.b-1"] = dict(copy.deepcopy(config["models"]["digits-vp"]), registry="digits-vp")
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
        models={"o": dict(oracle, registry="digits-oracle",
                          reference={"kind": "file", "path": str(paths["reference"])}),
                "v": dict(vp, registry="digits-vp",
                          reference={"kind": "dataset", "dataset": "digits", "split": PAYLOAD, "resolution": 16})},
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


# ---------------------------------------------------------------------------------------------------------------------
# Plan-time refusals (issue 25, item 3): the schema and the sampler table refuse what a sampler, the floors or the
# registry would refuse later, in one line naming the experiment and the key, before any job runs.
# ---------------------------------------------------------------------------------------------------------------------


def _exp(name):
    return lambda c: c["experiments"][name]


PLAN_REFUSED = {
    "diffpir at one step": (
        lambda c: _exp("inverse")(c).update(samplers=["diffpir"], steps=[1], reference_sampler="diffpir"),
        "experiments.inverse.steps: diffpir needs at least 2 steps, got 1"),
    "ncsn K not a multiple of its levels": (
        lambda c: _exp("schedules")(c).update(samplers=["ncsn"], steps=[12]),
        "experiments.schedules.steps: ncsn runs steps = levels x n_steps_each (5)"),
    "native-ncsn K with its own n_steps_each": (
        lambda c: _exp("schedules")(c).update(samplers=["native-ncsn"], steps=[10],
                                              sampler_options={"native-ncsn": {"n_steps_each": 3}}),
        "experiments.schedules.steps: native-ncsn runs steps = levels x n_steps_each (3), got 10"),
    "an NFE budget below one DAPS level": (
        lambda c: _exp("calibration")(c).update(samplers=["daps"], nfe=[3], reference_sampler="daps"),
        "experiments.calibration.nfe: budget 3 is below one step of sampler 'daps'"),
    "an NFE budget below DiffPIR's two steps": (
        lambda c: _exp("calibration")(c).update(samplers=["diffpir"], nfe=[1], reference_sampler="diffpir"),
        "experiments.calibration.nfe: budget 1 is below one step of sampler 'diffpir'"),
    "one image (floors, FID, intervals)": (lambda c: _exp("schedules")(c).update(n_images=1),
                                           "experiments.schedules.n_images: 1 is less than the minimum of 2"),
    "no samplers": (lambda c: _exp("schedules")(c).update(samplers=[]), "experiments.schedules.samplers: [] "),
    "no tasks": (lambda c: _exp("schedules")(c).update(tasks=[]), "experiments.schedules.tasks: [] "),
    "no steps": (lambda c: _exp("schedules")(c).update(steps=[]), "experiments.schedules.steps: [] "),
    "samplers that solve none of the tasks": (
        lambda c: _exp("inverse")(c).update(samplers=["dps"], tasks=["uncond"]),
        "experiments.inverse: no runs - samplers dps solve none of the tasks uncond"),
    "an unknown registry name": (lambda c: c["models"]["digits-vp"].update(registry="digits-vpp"),
                                 "experiments.schedules.models: model 'digits-vp' loads registry model 'digits-vpp'"),
    "a model key that is no registry name": (
        lambda c: (c["models"].__setitem__("mine", c["models"]["digits-oracle"]),
                   _exp("temperature")(c).update(models=["mine"])),
        "experiments.temperature.models: model 'mine' loads registry model 'mine'"),
}


@pytest.mark.parametrize("case", sorted(PLAN_REFUSED))
def test_what_a_sampler_or_stage_would_refuse_is_refused_at_plan_time(case):
    change, start = PLAN_REFUSED[case]
    config = smoke()
    change(config)
    with pytest.raises(ValueError) as refused:
        validate_config(config, "hostile.yaml")
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"hostile.yaml: {start}"), message


def test_plan_refuses_before_any_job_in_the_snakefile_and_by_hand(tmp_path, capsys):
    from rwbench import cli

    config = smoke()
    PLAN_REFUSED["diffpir at one step"][0](config)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    assert cli.main(["plan", "--config", str(bad), "--list"]) == 2
    assert "experiments.inverse.steps: diffpir needs at least 2 steps" in capsys.readouterr().err
    res = snakemake("-n", "--configfile", str(bad), "--config", f"results_dir={tmp_path}/r", marker=tmp_path / "m")
    assert res.returncode != 0 and "experiments.inverse.steps: diffpir needs at least 2 steps" in res.stdout
    assert "Job stats" not in res.stdout


def test_the_accepted_floors_still_plan():
    config = smoke()
    _exp("inverse")(config).update(samplers=["diffpir", "dps"], steps=[2])
    _exp("schedules")(config).update(samplers=["ncsn"], steps=[12], n_images=2,
                                     sampler_options={"ncsn": {"n_steps_each": 4}})
    _exp("calibration")(config).update(samplers=["daps", "dps"], nfe=[5])
    from rwbench.plan import grid

    specs = grid.expand(validate_config(config))
    assert {s["steps"] for s in specs.values() if s["sampler"] in ("diffpir", "ncsn", "daps")} == {2, 12, 1}


def test_the_planner_knows_the_registry_names_torch_free():
    from rwbench.models.registry import list_models
    from rwbench.plan.samplers import REGISTRY_MODELS

    assert sorted(REGISTRY_MODELS) == list_models()
    code = "import sys, rwbench.plan.config, rwbench.plan.samplers; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------------------------------------------------------------
# Provenance checked on read (issue 25, item 5): a shard, its provenance and its trajectory file record the run id and
# the spec digest that wrote them; reading refuses any of them that a run directory's spec.json does not match.
# ---------------------------------------------------------------------------------------------------------------------


@pytest.fixture()
def two_runs(tmp_path):
    """Two sampled runs of the small oracle (different steps, so different run ids and specs), trajectories on."""
    from rwbench import cli
    from test_sample import write_run

    specs = [write_run(tmp_path / name, n_images=4, shard_size=4, steps=[steps], trajectory_points=2)
             for name, steps in (("a", 6), ("b", 4))]
    for spec in specs:
        assert cli.main(["sample", "--spec", str(spec), "--shard", "0", "--no-progress"]) == 0
    return [spec.parent for spec in specs]


def _refused(run_dir, *names):
    from rwbench.run import rundir

    with pytest.raises(ValueError) as refused:
        rundir.load_shards(run_dir)
    message = str(refused.value)
    assert "\n" not in message and all(n in message for n in names), message
    return message


def test_a_shard_records_its_run_and_spec_and_reads_back_clean(two_runs):
    from rwbench.run import rundir

    a = two_runs[0]
    spec, data = rundir.load_shards(a)
    ident = rundir.identity(spec)
    assert not set(rundir.IDENTITY_KEYS) & set(data)                 # tensors only reach the metrics
    assert {k: json.loads((a / "provenance-00000.json").read_text())[k] for k in ident} == ident
    assert rundir.load_trajectories(a)["x"].shape[1] == 4


def test_a_shard_copied_from_another_run_is_refused_naming_both(two_runs):
    a, b = two_runs
    ids = [json.loads((d / "spec.json").read_text())["run_id"] for d in (a, b)]
    shutil.copy(b / "shards/shard-00000.pt", a / "shards/shard-00000.pt")           # the shard alone
    message = _refused(a, *ids, "shard-00000.pt", "copied from another run")
    assert "delete it and rebuild it" in message
    shutil.copy(b / "provenance-00000.json", a / "provenance-00000.json")           # with its provenance too
    _refused(a, *ids)


def test_a_provenance_from_another_run_or_a_changed_spec_is_refused(two_runs):
    from rwbench.run import rundir

    a, b = two_runs
    shutil.copy(b / "provenance-00000.json", a / "provenance-00000.json")
    _refused(a, "provenance-00000.json", json.loads((b / "spec.json").read_text())["run_id"])
    spec = json.loads((b / "spec.json").read_text())
    changed = dict(spec, seed=spec["seed"] + 1)                                      # same run id, another spec
    (b / "spec.json").write_text(json.dumps(changed))
    _refused(b, rundir.identity(spec)["spec_digest"], rundir.identity(changed)["spec_digest"])


def test_a_trajectory_copied_from_another_run_is_refused(two_runs):
    from rwbench.run import rundir

    a, b = two_runs
    shutil.copy(b / "trajectories/shard-00000.pt", a / "trajectories/shard-00000.pt")
    with pytest.raises(ValueError, match="copied from another run"):
        rundir.load_trajectories(a)


def test_shards_written_before_the_check_still_read(two_runs):
    """Older run folders (the shard without identity, the provenance with the run id only) read as before; a legacy
    shard in another run's folder is still caught by its provenance's run id."""
    import torch

    from rwbench.run import rundir

    a, b = two_runs
    for d in (a, b):
        shard = torch.load(d / "shards/shard-00000.pt", weights_only=True)
        torch.save({k: v for k, v in shard.items() if k not in rundir.IDENTITY_KEYS}, d / "shards/shard-00000.pt")
        prov = json.loads((d / "provenance-00000.json").read_text())
        prov.pop("spec_digest")
        (d / "provenance-00000.json").write_text(json.dumps(prov))
    spec, data = rundir.load_shards(a)
    assert data["sample_uint8"].shape[0] == 4
    shutil.copy(b / "shards/shard-00000.pt", a / "shards/shard-00000.pt")
    shutil.copy(b / "provenance-00000.json", a / "provenance-00000.json")
    _refused(a, spec["run_id"])
