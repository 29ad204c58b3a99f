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
    verbose = ("--quiet", "host") if "-n" in args else ()   # a dry run listing every job (the profile is quiet)
    return subprocess.run([sys.executable, "-m", "snakemake", *verbose, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


@pytest.fixture()
def hostile(tmp_path):
    """A tiny config whose every string a rule reads carries the payload: the results and reports folders, the config
    file and the embedded config file, the extractor weights, a file reference, a dataset reference's dataset and
    split (given, and a model's own), the schedules and the steps of the schedules table, the equivalence pairs and oracle file; and the strings
    that reach only the run specs (a checkpoint path, loader options). The other strings of the schema are names
    (refused above) or enums (STRING_FIELDS below keeps the list complete)."""
    marker = tmp_path / "marker"
    config = smoke()
    config.pop("claims")      # they name the smoke experiments; claims reach no rule (rwbench claims reads the file)
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
                "v": dict(vp, registry="digits-vp", checkpoint=PAYLOAD, loader_options={"weights": PAYLOAD},
                          reference={"kind": "dataset", "dataset": PAYLOAD, "split": PAYLOAD, "resolution": 16}),
                "w": dict({k: v for k, v in vp.items() if k != "reference"}, registry="digits-vp", dataset=PAYLOAD,
                          reference_split=PAYLOAD)},
        metrics=dict(config["metrics"], extractor_weights=str(paths["weights"])),
        schedules_table={"schedules": [PAYLOAD], "steps": PAYLOAD},
        equivalence={"steps": 2, "batch": 1, "pairs": PAYLOAD, "oracle": PAYLOAD},
        experiments={"e": {"figure": "cross", "models": ["o", "v", "w"], "samplers": ["simplified"],
                           "schedules": ["geometric"], "steps": [2], "n_images": 2}})
    paths["config"].write_text(yaml.safe_dump(config))
    return paths, marker


def commands(transcript: str) -> list[list[str]]:
    """Each job's command as the shell splits it (every value is single-quoted, which shlex reads as bash does), with
    `>` and its log file appended; a `batch` job's commands split once more, as rwbench batch does. A job's shell is
    LOGGED: `printf '%s\\n' <command as one argument> > <log>; <command> >> <log> 2>&1`; the logged copy must be one
    argument equal to the command that runs, and both write the same log."""
    out = []
    for line in re.findall(r"^Shell command: (.*)$", transcript, re.M):
        if line == "None":                                          # rule all
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        head, tail = tokens[:tokens.index(";")], tokens[tokens.index(";") + 1:]
        assert len(head) == 5 and head[:2] == ["printf", "%s\\n"] and head[3] == ">", head
        argv, log = tail[:tail.index(">>")], head[4]
        assert tail[tail.index(">>"):] == [">>", log, "2", ">&", "1"], tail
        assert shlex.split(head[2]) == argv, (head[2], argv)
        out.append([*argv, ">", log])
        if "batch" in argv:
            rest = argv[argv.index("batch") + 1:]
            while rest and rest[0] in ("--log", "--cells"):      # batch's own options (a pack's failure records)
                rest = rest[2:]
            out += [shlex.split(c) for c in rest]
    assert out, transcript[-2000:]
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
    assert value_after(argvs, "--split") == {PAYLOAD} and value_after(argvs, "--dataset") == {PAYLOAD}
    assert value_after(argvs, "--schedules") == {PAYLOAD} and value_after(argvs, "--pairs") == {PAYLOAD}
    assert value_after(argvs, "--oracle") == {PAYLOAD} and PAYLOAD in value_after(argvs, "--steps")
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
    spec = yaml.safe_load(Path(next(s for s in specs if "__v__" in s)).read_text())
    assert spec["checkpoint"] == spec["loader_options"]["weights"] == PAYLOAD
    assert spec["reference"]["dataset"] == spec["reference"]["split"] == PAYLOAD
    spec = yaml.safe_load(Path(next(s for s in specs if "__w__" in s)).read_text())
    assert spec["dataset"] == spec["split"] == spec["reference"]["dataset"] == spec["reference"]["split"] == PAYLOAD
    assert f"--steps: cannot parse {PAYLOAD!r}" in Path(f"{results}/logs/schedules_table.log").read_text()
    assert f"{PAYLOAD}: oracle file missing" in Path(f"{results}/logs/equivalence_table.log").read_text()
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
    for key in ("schedules_table", "equivalence", "scalespace", "claims"):
        config.pop(key, None)
    config.update(results_dir=str(tmp_path / "my results"), reports_dir=str(tmp_path / "my reports"), packs=1,
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
    runs = tmp_path / "my results/runs"
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
    table = __import__("pandas").read_csv(tmp_path / "my results/metrics.csv")
    assert sorted(table["run_id"].unique()) == sorted(set(ids) - {bad})          # the rest of the pack has metrics
    summary = (tmp_path / "my reports/summary.html").read_text()
    assert "Failed cells" in summary and bad in summary and "sample" in summary
    assert (tmp_path / "my reports/figures/cross.png").is_file()
    assert not (runs / bad / "shards/shard-00000.pt").exists()       # placeholders removed: the next run rebuilds
    # the cause fixed, a rerun re-runs the pack that held the cell and what follows, not planning or preparation
    (runs / bad / "spec.json").write_text(good_spec)
    again = snakemake("-n", *cfg, marker=marker).stdout
    assert "rule sample_p00:" in again and "rule evaluate_p00:" in again
    assert "rule plan_p00:" not in again and "rule prepare:" not in again and "rule train:" not in again
    fixed = snakemake(*cfg, marker=marker)
    assert fixed.returncode == 0 and not failures.is_failed(runs / bad), fixed.stdout[-3000:]
    table = __import__("pandas").read_csv(tmp_path / "my results/metrics.csv")
    assert sorted(table["run_id"].unique()) == ids
    assert "Failed cells" not in (tmp_path / "my reports/summary.html").read_text() and not marker.exists()


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
    "a NaN noise level (YAML .nan passes exclusiveMinimum)": (
        lambda c: c["models"]["digits-vp"].update(sigma_min=float("nan")), "models.digits-vp.sigma_min: nan is not a"),
    "an infinite temperature": (lambda c: _exp("schedules")(c).update(T0=[float("inf")]),
                                "experiments.schedules.T0.0: inf is not a finite number"),
    "a NaN step factor of the schedules table": (lambda c: c["schedules_table"].update(c=float("nan")),
                                                 "schedules_table.c: nan is not a finite number"),
    "a huge n_images (millions of sample jobs)": (
        lambda c: _exp("schedules")(c).update(n_images=10**9),
        "experiments.schedules.n_images: 1000000000 images in shards of 4 is 250000000 sample jobs per run"),
    "a tiny shard_size for many posterior draws": (
        lambda c: _exp("inverse")(c).update(n_targets=20000, shard_size=1),
        "experiments.inverse.n_targets: 80000 images in shards of 1 is 80000 sample jobs per run"),
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


# ---------------------------------------------------------------------------------------------------------------------
# Issue 25, items 2 and 7: no third-party weights are unpickled; each CLI failure is one line naming file and fix
# ---------------------------------------------------------------------------------------------------------------------

class WritesMarker:
    """Unpickling this runs open(marker, 'w'): what a crafted weights file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def crafted_pickle(path: Path, marker: Path) -> Path:
    """A .pth that torch.load(weights_only=False) would execute: a state dict with one code-running value."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": torch.zeros(1), "payload": WritesMarker(marker)}, path)
    return path


def one_line_naming(err, path: Path) -> str:
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    return message


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    from rwbench.metrics import extractors as ex

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(ex.INCEPTION_ENV, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_the_crafted_pickle_really_runs_code_when_unpickled(tmp_path):
    import torch

    marker = tmp_path / "marker"
    torch.load(crafted_pickle(tmp_path / "w.pth", marker), weights_only=False)
    assert marker.read_text() == "ran"


def test_inception_weights_of_the_user_are_read_with_weights_only(tmp_path, torch_home):
    from rwbench.errors import UserError
    from rwbench.metrics import extractors as ex

    marker, path = tmp_path / "marker", crafted_pickle(tmp_path / "my-inception.pth", tmp_path / "marker")
    with pytest.raises(UserError) as err:
        ex.build_extractor(ex.resolve_extractor(ex.INCEPTION, path))
    assert "refused" in one_line_naming(err, path) and "weights_only=True" in str(err.value)
    assert not marker.exists()


def test_inception_weights_in_the_hub_cache_must_carry_their_hash_prefix(tmp_path, torch_home):
    from rwbench.errors import UserError
    from rwbench.metrics import extractors as ex

    marker = tmp_path / "marker"
    path = crafted_pickle(torch_home / ex.INCEPTION_WEIGHTS_FILE, marker)
    with pytest.raises(UserError) as err:
        ex.build_extractor(ex.resolve_extractor(ex.INCEPTION, allow_download=False))
    assert "6726825d" in one_line_naming(err, path) and "genuine" in str(err.value)
    assert not marker.exists()


def test_torch_fidelity_extractors_that_unpickle_are_refused():
    from rwbench.metrics import extractors as ex

    with pytest.raises(ValueError, match="--extractor 'vgg16'.*unpickles"):
        ex.resolve_extractor("vgg16")


def test_lpips_backbone_in_the_hub_cache_must_carry_its_hash_prefix(tmp_path, torch_home):
    from rwbench.errors import UserError
    from rwbench.metrics.lpips_metric import LPIPSMetric

    marker = tmp_path / "marker"
    path = crafted_pickle(torch_home / "alexnet-owt-7be5be79.pth", marker)
    with pytest.raises(UserError) as err:
        LPIPSMetric("alex")
    assert "7be5be79" in one_line_naming(err, path)
    assert not marker.exists()


def test_lpips_backbone_and_linear_layers_are_read_with_weights_only(tmp_path, torch_home):
    import torch
    import torchvision

    from rwbench.errors import UserError
    from rwbench.metrics.lpips_metric import build_lpips

    marker = tmp_path / "marker"
    backbone = crafted_pickle(tmp_path / "alex-mine.pth", marker)
    with pytest.raises(UserError) as err:
        build_lpips("alex", backbone)
    assert "refused" in one_line_naming(err, backbone)
    good = tmp_path / "alex-random.pth"
    torch.save(torchvision.models.alexnet().state_dict(), good)
    linear = crafted_pickle(tmp_path / "lin.pth", marker)
    with pytest.raises(UserError) as err:
        build_lpips("alex", good, linear)
    assert "refused" in one_line_naming(err, linear)
    assert not marker.exists()


def test_lpips_built_by_rwbench_equals_lpips_loading_the_same_files(tmp_path, monkeypatch):
    """The key mapping (features.<i> -> net.slice<k>.<i>, lin<l>) loads every tensor where lpips itself puts it."""
    import warnings

    import lpips
    import torch
    import torchvision

    from rwbench.metrics.lpips_metric import BACKBONE_FILES, build_lpips

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(0)
    state = torchvision.models.alexnet().state_dict()
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(state, hub / BACKBONE_FILES["alex"])  # torchvision loads a cached file without a hash check
    torch.save(state, tmp_path / "alex-random.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval()
    ours = build_lpips("alex", tmp_path / "alex-random.pth").eval()
    mine, other = ours.state_dict(), theirs.state_dict()
    assert mine.keys() == other.keys() and all(torch.equal(mine[k], other[k]) for k in mine)
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.equal(ours(a, b), theirs(a, b))


def test_model_checkpoints_shards_and_reference_caches_are_read_with_weights_only(tmp_path):
    from rwbench.io import load_tensors
    from rwbench.metrics.reference import load_reference, load_reference_images
    from rwbench.models.checkpoints import read_checkpoint
    from rwbench.run.rundir import load_shard

    marker = tmp_path / "marker"
    path = crafted_pickle(tmp_path / "x.pt", marker)
    for load in (read_checkpoint, load_shard, load_tensors, load_reference,
                 lambda p: load_reference_images({"kind": "file", "path": str(p)})):
        with pytest.raises(ValueError) as err:
            load(path)
        one_line_naming(err, path)
    assert not marker.exists()


def cli_one_line(argv, capsys, monkeypatch) -> str:
    """Run `rwbench <argv>`; it must fail with exit 2 and one stderr line (no traceback)."""
    from rwbench import cli

    monkeypatch.delenv("RWBENCH_DEBUG", raising=False)
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("rwbench: warning:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture()
def oracle_config(tmp_path):
    """A config whose `models:` holds a small fitted oracle "oracle" (tests/test_sample.write_run)."""
    from test_sample import write_run

    write_run(tmp_path / "cell", n_images=2, shard_size=2)
    return tmp_path / "cell" / "config.yaml"


def test_generate_with_a_posterior_sampler_is_one_line(oracle_config, tmp_path, capsys, monkeypatch):
    line = cli_one_line(["generate", "--config", str(oracle_config), "--model", "oracle", "--sampler", "dps",
                         "--seeds", "0-1", "--outdir", str(tmp_path / "g"), "--no-progress"], capsys, monkeypatch)
    assert "--sampler dps: a posterior sampler" in line and "simplified" in line and "tasks:" in line
    assert not (tmp_path / "g").exists()


def test_generate_refuses_to_overwrite_without_force(oracle_config, tmp_path, capsys, monkeypatch):
    from rwbench import cli

    argv = ["generate", "--config", str(oracle_config), "--model", "oracle", "--sampler", "simplified", "--seeds", "0-1",
            "--steps", "3", "--no-progress", "--outdir"]
    existing = tmp_path / "existing"
    existing.write_text("keep me")
    line = cli_one_line([*argv, str(existing)], capsys, monkeypatch)
    assert f"--outdir {existing}: is a file; pass --force" in line and existing.read_text() == "keep me"
    assert cli.main([*argv, str(tmp_path / "g")]) == 0
    first = (tmp_path / "g" / "seed000000.png").read_bytes()
    line = cli_one_line([*argv, str(tmp_path / "g")], capsys, monkeypatch)
    assert "holds earlier output" in line and "--force" in line
    assert cli.main([*argv, str(existing), "--force"]) == 0 and (existing / "seed000001.png").is_file()
    assert cli.main([*argv, str(tmp_path / "g"), "--force", "--seed", "9"]) == 0
    assert (tmp_path / "g" / "seed000000.png").read_bytes() != first


def test_score_names_a_corrupt_or_non_image_png(tmp_path, capsys, monkeypatch):
    from PIL import Image
    import numpy as np

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "000000.png")
    good = (folder / "000000.png").read_bytes()
    (folder / "000001.png").write_bytes(good[: len(good) // 2])
    line = cli_one_line(["score", str(folder), "--reference", "dataset:digits/test/8"], capsys, monkeypatch)
    assert str(folder / "000001.png") in line and "replace or remove the file" in line
    (folder / "000001.png").write_text("not an image")
    line = cli_one_line(["score", str(folder), "--reference", "dataset:digits/test/8"], capsys, monkeypatch)
    assert str(folder / "000001.png") in line


def test_sixteen_bit_pngs_are_scaled_wherever_images_are_read(tmp_path):
    import numpy as np
    from PIL import Image

    from rwbench.data import load_image_folder
    from rwbench.tools.oneshot import read_images

    v16 = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1000 + 7).astype(np.uint16)
    Image.fromarray(v16).save(tmp_path / "000000.png")
    with Image.open(tmp_path / "000000.png") as im:
        assert im.mode.startswith("I")
    expected = np.rint(v16 / 257.0).astype(np.uint8)
    score_folder = read_images(tmp_path)                      # rwbench score / a folder reference
    assert score_folder.shape == (1, 1, 8, 8) and np.array_equal(score_folder[0, 0].numpy(), expected)
    dataset = load_image_folder(tmp_path, 8).images           # FFHQ-style image folders
    assert all(np.array_equal(dataset[0, c].numpy(), expected) for c in range(3))


def test_compare_n_boot_overrides_the_configs_compare_n_boot(tmp_path, capsys, monkeypatch):
    from rwbench import cli

    config = dict(smoke(), compare={"n_boot": 200}, results_dir=str(tmp_path / "r"), reports_dir=str(tmp_path / "p"))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["compare", "--config", str(path), "--n-boot", "300", "--experiments", "schedules"]) == 0
    line = cli_one_line(["compare", "--config", str(path), "--n-boot", "5"], capsys, monkeypatch)
    assert "--n-boot 5: need at least 100" in line


@pytest.mark.parametrize("steps", [2, 5, 9])
def test_equivalence_with_fewer_than_ten_steps(tmp_path, capsys, monkeypatch, steps):
    from rwbench import cli

    line = cli_one_line(["equivalence", "--steps", str(steps), "--out", str(tmp_path / "e.csv"), "--no-progress"],
                        capsys, monkeypatch)
    assert f"--steps {steps}: the ncsn and ncsn_released pair(s) need at least 10 steps" in line and "--pairs" in line
    assert cli.main(["equivalence", "--steps", str(steps), "--pairs", "ddpm_beta,ddim,euler,ve_sde",
                     "--out", str(tmp_path / "e.csv"), "--no-progress"]) == 0


@pytest.mark.parametrize("suffix", [".pt", ".json"])
def test_a_truncated_reference_cache_is_one_line(tmp_path, capsys, monkeypatch, suffix):
    import torch

    from rwbench.io import read_json, write_json
    from rwbench.metrics.reference import load_reference

    path = tmp_path / f"cache{suffix}"
    if suffix == ".pt":
        torch.save({"mu": torch.zeros(64), "sigma": torch.eye(64)}, path)
    else:
        write_json(path, {"logp_mean": 1.0, "energy_yy": 2.0})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError) as err:
        load_reference(path) if suffix == ".pt" else read_json(path)
    assert "delete it and rerun" in one_line_naming(err, path)


def test_a_truncated_reference_cache_through_the_cli(tmp_path, capsys, monkeypatch):
    from toy_extractor import register_toy_extractor

    from rwbench import cli

    toy = register_toy_extractor("rwbench-test-toy-hostile")
    argv = ["reference", "--dataset", "digits", "--split", "test", "--resolution", "8", "--reference-cache",
            str(tmp_path), "--extractor", toy]
    assert cli.main(argv) == 0
    (cache,) = tmp_path.glob("*.pt")
    cache.write_bytes(cache.read_bytes()[:100])
    line = cli_one_line(argv, capsys, monkeypatch)
    assert str(cache) in line and "delete it and rerun" in line


def test_a_wrong_key_or_shape_in_a_users_model_safetensors_names_file_and_key(tmp_path):
    import torch

    from rwbench.errors import UserError
    from rwbench.io import save_safetensors, write_json
    from rwbench.models.embedded import load_trained_net
    from rwbench.nets.unet import UNet

    net = UNet(base_channels=8)
    write_json(tmp_path / "config.json", {"kind": "vp", "net_config": net.config})
    weights = tmp_path / "model.safetensors"
    state = {k: v.clone() for k, v in net.state_dict().items()}
    key = next(iter(state))
    save_safetensors(weights, {("renamed" if k == key else k): v for k, v in state.items()})
    with pytest.raises(UserError) as err:
        load_trained_net(tmp_path, "vp")
    assert f"key {key!r}" in one_line_naming(err, weights)
    save_safetensors(weights, dict(state, **{key: torch.zeros(3)}))
    with pytest.raises(UserError) as err:
        load_trained_net(tmp_path, "vp")
    assert f"key {key!r} has shape (3,)" in one_line_naming(err, weights)
    save_safetensors(weights, state)
    assert load_trained_net(tmp_path, "vp")[1]["kind"] == "vp"


def test_safetensors_outputs_are_readable_as_the_umask_says(tmp_path):
    import stat

    import torch

    from rwbench.io import save_safetensors
    from rwbench.models.denoisers import GaussianMixtureDenoiser
    from rwbench.run.rundir import write_features

    old = os.umask(0o022)
    try:
        save_safetensors(tmp_path / "a.safetensors", {"x": torch.zeros(2)})
        GaussianMixtureDenoiser(torch.ones(1), torch.zeros(1, 4), torch.eye(4)[None]).save(tmp_path / "o.safetensors")
        write_features(tmp_path, {"index": torch.arange(2)})
        os.umask(0o077)
        save_safetensors(tmp_path / "private.safetensors", {"x": torch.zeros(2)})
    finally:
        os.umask(old)
    for name in ("a.safetensors", "o.safetensors", "features.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((tmp_path / "private.safetensors").stat().st_mode) == 0o600


def test_every_safetensors_write_goes_through_the_io_helper():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "rwbench").rglob("*.py")
                 if "save_file" in p.read_text() and p.name != "io.py"]
    assert offenders == []


# ---------------------------------------------------------------------------------------------------------------------
# Audit (issue 25): guards that keep the promises above complete as the code grows, and hostile inputs found since
# ---------------------------------------------------------------------------------------------------------------------

NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
# every free-form string of the schema, and why it cannot reach a shell unquoted: "payload" - the hostile fixture
# puts the payload in it and the DAG test sees it arrive verbatim; "not read by rules" - it reaches only files that
# rwbench reads itself (the run specs, the claims ledger), never a command line. Names, the device and enums are
# constrained by pattern (REFUSED above) and need no entry.
STRING_FIELDS = {
    "results_dir": "payload", "reports_dir": "payload", "embedded_config": "payload",
    "metrics.extractor_weights": "payload", "models.*.reference.path": "payload",
    "models.*.reference.dataset": "payload", "models.*.reference.split": "payload",
    "schedules_table.schedules.*": "payload", "schedules_table.steps": "payload",
    "equivalence.pairs": "payload", "equivalence.oracle": "payload",
    "models.*.checkpoint": "payload", "models.*.loader_options.weights": "payload",
    "models.*.loader_options.config": "not read by rules",
    "models.*.dataset": "payload", "models.*.reference_split": "payload",    # the default reference set
    "models.*.registry": "not read by rules",
    "experiments.*.tuned": "not read by rules", "experiments.*.task_params.deblur.boundary": "not read by rules",
    "pareto.experiments.*": "not read by rules", "claims_design": "not read by rules",
    "claims.*.statement": "not read by rules", "claims.*.margin_reason": "not read by rules",
    "claims.*.effect_reason": "not read by rules", "claims.*.figure": "not read by rules",
    "experiments.*.contrasts.*.metric": "not read by rules", "experiments.*.equivalence.*.metric": "not read by rules",
}


def _free_strings(node, path=""):
    """Paths of the schema's string values that neither an enum nor the name or device pattern constrains."""
    if not isinstance(node, dict):
        return []
    out = []
    types = node.get("type", [])
    types = types if isinstance(types, list) else [types]
    pattern = node.get("pattern", "")
    if "string" in types and "enum" not in node and pattern not in (NAME_PATTERN,) and "cuda" not in pattern:
        out.append(path)
    for key, sub in (node.get("properties") or {}).items():
        out += _free_strings(sub, f"{path}.{key}".lstrip("."))
    for key in ("additionalProperties", "items"):
        if isinstance(node.get(key), dict):
            out += _free_strings(node[key], f"{path}.*".lstrip("."))
    return out


def test_every_free_string_of_the_schema_is_covered_by_the_payload_test_or_reaches_no_rule():
    from rwbench.plan.config import load_schema

    free = set(_free_strings(load_schema()))
    assert free == set(STRING_FIELDS), (sorted(free - set(STRING_FIELDS)), sorted(set(STRING_FIELDS) - free))


# readers that run code from a file: torch.load without weights_only=True, pickle, numpy's allow_pickle, joblib, dill,
# torch.hub.load / jit.load, pandas.read_pickle, and any YAML loader other than safe_load
UNSAFE_READERS = [r"\bpickle\.loads?\(", r"allow_pickle\s*=\s*True", r"\bjoblib\b", r"\bdill\b", r"hub\.load\(",
                  r"jit\.load\(", r"read_pickle\(", r"yaml\.(load|full_load|unsafe_load|load_all)\(", r"Unpickler\b"]


def test_no_reader_in_rwbench_unpickles_or_constructs_objects():
    offenders = []
    for path in (ROOT / "rwbench").rglob("*.py"):
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        for call in re.finditer(r"torch\.load\(([^()]|\([^()]*\))*\)", code):
            if "weights_only=True" not in call.group(0):
                offenders.append(f"{path.relative_to(ROOT)}: {call.group(0)[:60]}")
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for pat in UNSAFE_READERS
                      for m in re.finditer(pat, code)]
    assert offenders == []


def test_every_image_file_is_read_through_open_image():
    """16-bit PNGs are scaled in rwbench.data.open_image; no other reader may open an image file."""
    readers = re.compile(r"Image\.open\(|imread\(|read_image\(|decode_image\(|imageio|cv2\.")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "rwbench").rglob("*.py")
                 if readers.search("\n".join(l.split("#")[0] for l in p.read_text().splitlines()))]
    assert offenders == ["rwbench/data.py"]
    assert (ROOT / "rwbench/data.py").read_text().count("Image.open(") == 1


def test_a_yaml_tag_that_would_run_code_is_one_line_and_constructs_nothing(tmp_path, capsys, monkeypatch):
    from rwbench.errors import UserError
    from rwbench.training.config import load_embedded_config

    marker = tmp_path / "marker"
    tag = f'zzz: !!python/object/apply:os.system ["touch {marker}"]\n'
    bad = tmp_path / "tagged.yaml"
    bad.write_text((ROOT / "config/smoke.yaml").read_text() + tag)
    line = cli_one_line(["plan", "--config", str(bad), "--list"], capsys, monkeypatch)
    assert str(bad) in line and "not valid plain YAML at line" in line and "python/object/apply" in line
    embedded = tmp_path / "embedded.yaml"
    embedded.write_text("embedded:\n  seed: 0\n" + tag.replace("zzz", "  zzz"))
    with pytest.raises((ValueError, UserError)) as err:
        load_embedded_config(embedded)
    one_line_naming(err, embedded)
    assert not marker.exists()


def test_a_yte_template_config_is_refused_by_the_snakefile(tmp_path):
    """Snakemake evaluates a `__use_yte__: true` config's expressions while loading it (before rwbench sees it); the
    Snakefile then refuses the file in one line that says so, and no job runs."""
    config = dict(smoke(), results_dir=str(tmp_path / "r"))
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump({"__use_yte__": True, **config}))
    res = snakemake("-n", "--configfile", str(path), marker=tmp_path / "m")
    assert res.returncode != 0 and f"{path}: __use_yte__: a YTE template" in res.stdout, res.stdout[-2000:]
    assert "Job stats" not in res.stdout


def test_a_symlinked_shard_of_another_run_is_refused(two_runs):
    a, b = two_runs
    (a / "shards/shard-00000.pt").unlink()
    (a / "shards/shard-00000.pt").symlink_to(b / "shards/shard-00000.pt")
    _refused(a, "shard-00000.pt", "copied from another run")


def test_robustness_doc_names_only_tests_that_exist():
    """docs/robustness.md's table of promises names tests by file::name; each must exist (and be collected)."""
    doc = (ROOT / "docs/robustness.md").read_text()
    named = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)", doc)
    assert len(named) >= 30, named
    for file, name in named:
        assert re.search(rf"^def {name}\(", (ROOT / file).read_text(), re.M), f"{file}::{name}"


def test_the_failed_cell_line_names_its_log_however_long_the_error():
    from rwbench.plan.failures import failure_line

    record = {"run_id": "r", "stage": "sample", "log": "results/logs/sample/pack-p00.log",
              "failures": [{"exit_code": 2, "error": "rwbench sample: " + "x, " * 400}]}
    line = failure_line(record)
    assert line.endswith("(log: results/logs/sample/pack-p00.log)") and len(line) < 300 and "\n" not in line


def test_checkpoint_and_reference_paths_enter_the_run_specs_in_one_spelling(tmp_path, monkeypatch):
    """Issue 25, item 6: a model's checkpoint or reference file reached through `..` or a symlink is the same run (the
    same spec, so nothing reruns); `embedded:` names, URLs and None are left alone."""
    from rwbench.plan import grid

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "ref.safetensors").write_bytes(b"")
    os.symlink(tmp_path / "ckpt", tmp_path / "link")
    cfg = validate_config(yaml.safe_load((ROOT / "config/smoke.yaml").read_text()), "smoke")
    name = next(m for m, s in cfg["models"].items() if s["family"] == "oracle")
    specs = {}
    for spelling in ("ckpt", "sub/../ckpt", "link", str(tmp_path / "ckpt")):
        c = copy.deepcopy(cfg)
        c["models"][name].update(checkpoint=spelling, reference={"kind": "file", "path": f"{spelling}/ref.safetensors"})
        specs[spelling] = {rid: s for rid, s in grid.expand(c).items() if s["model"] == name}
    runs = specs["ckpt"]
    assert runs and all(s["checkpoint"] == "ckpt" and s["reference"]["path"] == "ckpt/ref.safetensors"
                        for s in runs.values())
    for spelling in ("sub/../ckpt", "link"):
        assert specs[spelling] == runs, spelling
    assert all(s["checkpoint"] == str((tmp_path / "ckpt").resolve()) for s in specs[str(tmp_path / "ckpt")].values())
    assert grid.resolve_checkpoint({"results_dir": "res"}, "embedded:vp") == "res/embedded/vp"
    for kept in (None, "https://example.org/ckpt.pt"):
        assert grid.resolve_checkpoint({}, kept) == kept
