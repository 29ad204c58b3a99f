"""Packed DAG jobs: rwbench.plan.packs groups whole runs without mixing inputs; `rwbench batch` runs commands in one process;
the DAG benchmark reads job times."""

from __future__ import annotations

import os
import time

import pytest

from rwbench.tools.bench import dag
from rwbench.commands import batch
from rwbench.plan.config import load_config
from rwbench.plan.grid import expand
from rwbench.plan.packs import pack_runs, run_cost


def _spec(n, nfe, family="vp", checkpoint="results/embedded/vp"):
    return {"n_images": n, "nfe": nfe, "family": family, "checkpoint": checkpoint}


def test_packs_cover_every_run_once_and_never_mix_checkpoints():
    runs = expand(load_config("config/default.yaml"))
    packs = pack_runs(runs, 8)
    flat = [r for p in packs for r in p]
    assert sorted(flat) == sorted(runs) and len(flat) == len(set(flat))
    for pack in packs:
        assert len({str(runs[r]["checkpoint"]) for r in pack}) == 1
    assert len(packs) < len(runs) / 3                 # the point: far fewer jobs than runs
    assert pack_runs(runs, 8) == packs                 # deterministic


def test_packs_zero_is_one_run_per_pack_and_negative_is_refused():
    runs = {"a": _spec(4, 10), "b": _spec(4, 10)}
    assert pack_runs(runs, 0) == [["a"], ["b"]]
    with pytest.raises(ValueError, match="packs"):
        pack_runs(runs, -1)


def test_longest_processing_time_first_balances_a_group():
    runs = {f"r{i}": _spec(1, c) for i, c in enumerate([7, 5, 4, 3, 3, 2])}   # total 24 -> two bins of 12
    packs = pack_runs(runs, 2)
    loads = sorted(sum(run_cost(runs[r]) for r in p) for p in packs)
    assert loads == [12.0, 12.0]
    # a group gets packs in proportion to its cost: the cheap oracle group one, the VP group the rest
    runs["o1"] = _spec(1, 1, "oracle", "results/embedded/oracle")
    packs = pack_runs(runs, 2)
    assert ["o1"] in packs and len(packs) == 3


def test_batch_runs_each_command_and_prints_timing(tmp_path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    code = batch.run(batch.argparse.Namespace(commands=[f"schedules --schedules geometric --steps 3 --out {a}",
                                                        f"schedules --schedules karras --steps 3 --out {b}"]))
    out = capsys.readouterr().out
    assert code == 0 and a.is_file() and b.is_file()
    assert "[1/2] rwbench schedules" in out and "[2/2] rwbench schedules" in out
    line = [l for l in out.splitlines() if l.startswith(batch.TIMING_PREFIX)]
    assert len(line) == 1 and "commands=2" in line[0]


def test_batch_refuses_unknown_and_nested_commands():
    with pytest.raises(ValueError, match="does not start with a command"):
        batch.parse_commands(["smaple --spec x"])
    with pytest.raises(ValueError, match="does not start with a command"):
        batch.parse_commands(["batch 'sample --spec x'"])


def test_batch_runs_every_command_and_exits_non_zero_with_the_failed_ones(tmp_path, capsys):
    out = tmp_path / "after.csv"
    code = batch.run(batch.argparse.Namespace(commands=["schedules --no-such-option", f"schedules --out {out}"]))
    assert code == 2 and out.is_file()                     # the second command ran although the first failed
    err = capsys.readouterr().err
    assert "command 1 of 2 failed with exit code 2" in err
    failed = [l for l in err.splitlines() if l.startswith(batch.FAILED_PREFIX)]
    assert len(failed) == 1 and "[1/2]" in failed[0] and "--no-such-option" in failed[0]


def test_batch_cells_record_a_failed_run_skip_its_later_stages_and_keep_the_others(tmp_path, capsys):
    """The DAG's mode (--cells): a failed command writes FAILED-<stage>.json and placeholders, the batch exits 0, a
    later stage of that run is skipped (placeholders), the other runs finish; a rerun that succeeds clears it."""
    import json
    from pathlib import Path

    from rwbench.commands import plan
    from rwbench.plan import failures

    cfg = tmp_path / "smoke.yaml"      # its own contents: plan caches the expansion by contents
    cfg.write_text(Path("config/smoke.yaml").read_text() + "# cells test\n")
    good = sorted(plan.expanded(str(cfg), None, None))[0]
    runs = {name: tmp_path / "runs" / name for name in (good, "no-such-run")}
    cells = json.dumps([{"run": str(d), "outputs": ["spec.json"]} for d in runs.values()])
    code = batch.run(batch.argparse.Namespace(cells=cells, log="pack.log", commands=[
        f"plan --config {cfg} --run {name} --out {d / 'spec.json'}" for name, d in runs.items()]))
    assert code == 0 and (runs[good] / "spec.json").stat().st_size > 0
    bad = runs["no-such-run"]
    record = json.loads(failures.marker_path(bad, "plan").read_text())
    assert record["stage"] == "plan" and record["log"] == "pack.log" and record["run_id"] == "no-such-run"
    assert record["failures"][0]["exit_code"] == 1 and "is not in" in record["failures"][0]["error"]
    assert (bad / "spec.json").stat().st_size == 0 and not failures.produced(bad, "sample")
    assert "no-such-run: plan failed with exit code 1: rwbench plan: run 'no-such-run' is not in" in \
        failures.failure_line(record)
    # a later stage of the failed run is skipped: placeholders, no new marker, exit 0
    cells = json.dumps([{"run": str(bad), "outputs": ["shards/shard-00000.pt"]}])
    code = batch.run(batch.argparse.Namespace(cells=cells, log=None,
                                              commands=[f"sample --spec {bad / 'spec.json'} --shard 0"]))
    assert code == 0 and (bad / "shards/shard-00000.pt").stat().st_size == 0
    assert "skipped: plan of no-such-run failed" in capsys.readouterr().err
    assert [r["stage"] for r in failures.markers(bad)] == ["plan"]
    assert sorted(p.name for p in failures.remove_placeholders(bad)) == ["shard-00000.pt", "spec.json"]
    # the cause fixed (here: the run's folder now names a real run), the stage runs again and its marker goes
    cells = json.dumps([{"run": str(bad), "outputs": ["spec.json"]}])
    code = batch.run(batch.argparse.Namespace(cells=cells, commands=[
        f"plan --config {cfg} --run {good} --out {bad / 'spec.json'}"]))
    assert code == 0 and not failures.is_failed(bad) and (bad / "spec.json").stat().st_size > 0


def test_batch_cells_need_one_entry_per_command():
    with pytest.raises(ValueError, match="needs a JSON list of 2 entries"):
        batch.parse_cells("[null]", 2)


def test_dag_bench_reads_job_seconds_and_rules(tmp_path):
    root = tmp_path / "benchmarks"
    now = time.time()
    for rel, seconds, end in [("sample/pack-p00.tsv", 30.0, now), ("train-vp.tsv", 100.0, now - 20),
                              ("figure-nfe.tsv", 2.0, now + 5), ("plan/run1.tsv", 0.5, now - 130)]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:{seconds}\t1.0\n")
        os.utime(path, (end, end))
    jobs = {j["rule"]: j for j in dag.read_jobs(root)}
    assert set(jobs) == {"sample", "train", "figure", "plan"}
    assert jobs["sample"]["packed"] and not jobs["train"]["packed"]
    assert jobs["train"]["start"] == pytest.approx(now - 120)
    wall = max(j["end"] for j in jobs.values()) - min(j["start"] for j in jobs.values())
    assert wall == pytest.approx(135.5)


def test_packed_plan_expands_the_config_once_per_process(tmp_path, monkeypatch):
    """A packed plan job (`rwbench batch "plan ..." "plan ..."`) expands the grid once; a changed file is re-read."""
    import shutil

    from rwbench.commands import plan

    cfg = tmp_path / "smoke.yaml"
    shutil.copy("config/smoke.yaml", cfg)
    calls = []
    real = plan.expand
    monkeypatch.setattr(plan, "expand", lambda config, names: calls.append(1) or real(config, names))
    ids = list(plan.expanded(str(cfg), None, None))
    code = batch.run(batch.argparse.Namespace(
        commands=[f"plan --config {cfg} --run {r} --out {tmp_path / r}.json" for r in ids[:3]]))
    assert code == 0 and len(calls) == 1 and all((tmp_path / f"{r}.json").is_file() for r in ids[:3])
    cfg.write_text(cfg.read_text().replace("shard_size: 4", "shard_size: 2"))
    assert plan.expanded(str(cfg), None, None)[ids[0]]["shard_size"] == 2 and len(calls) == 2
