"""Where a finished DAG spent its time: wall time, job-seconds by rule, the fixed per-job cost, samples x NFE per second.

    python -m rwbench.tools.bench dag [--results results] [--probes 3]

Job-seconds come from the `benchmark:` file every rule writes (results/benchmarks/...; the file is written when the
job ends, so its mtime minus its seconds is the job's start; wall time is last end minus first start).

The fixed per-job cost F of a stage is what one job pays beyond the marginal cost of its work: interpreter start-up,
imports, building models and feature extractors. It is measured, not assumed, by probes on one real unit of the
finished DAG (the stage's cheapest unit of each command kind it runs, copied to a scratch folder): T1 = one fresh
`rwbench batch` process doing the unit once, T2 = one process doing it twice; the second run is warm, so
F = 2 T1 - T2 (median of `--probes` repeats). Rules that are not probed (prepare, train, reference, figures, tables) are charged the cost of
starting an interpreter and importing torch and rwbench, and the torch-free `plan` / `aggregate`-type local rules
that of importing rwbench.plan.grid. The fixed share is sum over jobs of F(rule) / total job-seconds (target < 10 %).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBED = ("sample", "evaluate", "scalespace")   # job folders under logs/ (packs: scalespace runs in evaluate)
TORCH_FREE = ("plan",)
COMMAND_LINE = re.compile(r"^\[\d+/\d+\] rwbench (.*)$")


def rule_of(path: Path, root: Path) -> str:
    """Rule name of a benchmark file: its folder under benchmarks/ (sample/, evaluate/...) or its stem (train-vp)."""
    rel = path.relative_to(root)
    name = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    return name.split("-")[0] if name.startswith(("train-", "figure-")) else name   # figure-*: one rule per figure before


def read_jobs(root: Path) -> list[dict]:
    """One row per job: rule, seconds, start, end, packed (a `rwbench batch` job)."""
    jobs = []
    for path in sorted(root.rglob("*.tsv")):
        with open(path) as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows:
            continue
        seconds = float(rows[0]["s"])
        end = path.stat().st_mtime
        jobs.append({"rule": rule_of(path, root), "seconds": seconds, "start": end - seconds, "end": end,
                     "packed": path.name.startswith("pack-"), "file": str(path)})
    return jobs


def _timed(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _unit_cost(argv: list[str], run: Path, spec: dict) -> tuple:
    """How long a unit is expected to take: a sample unit by its own measured seconds (provenance), an evaluate or
    scale-space unit by its image count (unconditional runs first: they load the reference and build the extractor)."""
    if "--spec" in argv and "--shard" in argv:
        prov = run / f"provenance-{int(argv[argv.index('--shard') + 1]):05d}.json"
        if prov.is_file():
            return (0, float(json.loads(prov.read_text()).get("seconds", 0.0)))
    return (0 if spec.get("task") == "uncond" else 1, int(spec["n_images"]) * int(spec["nfe"]))


def probe_commands(results: Path, stage: str) -> list[tuple[str, Path]]:
    """The DAG's own commands for the cheapest unit of a stage, one per command kind its jobs run (an evaluate pack
    runs `evaluate` and then `scalespace`), each with its run folder: small units keep the noise of F = 2 T1 - T2
    small, and one unit of every kind charges each kind's one-time imports."""
    best: dict[str, tuple] = {}
    for log in sorted((results / "logs" / stage).glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            match = COMMAND_LINE.match(line)
            if not match:
                continue
            argv = shlex.split(match.group(1))
            run = Path(argv[argv.index("--spec") + 1]).parent if "--spec" in argv else Path(argv[argv.index("--run") + 1])
            cost = _unit_cost(argv, run, json.loads((run / "spec.json").read_text()))
            if argv[0] not in best or cost < best[argv[0]][0]:
                best[argv[0]] = (cost, match.group(1), run)
    return [(command, run) for _, command, run in best.values()]


def fixed_cost_probe(results: Path, stage: str, repeats: int) -> float | None:
    """F = 2 T1 - T2 for the stage's unit (its cheapest command of each kind), run on scratch copies of the runs."""
    found = probe_commands(results, stage)
    if not found:
        return None
    values = []
    with tempfile.TemporaryDirectory(prefix=f"rwbench-probe-{stage}-") as tmp:
        unit = []
        for command, run in found:
            copy = Path(tmp) / run.name
            if not copy.exists():
                shutil.copytree(run, copy)
            unit.append(command.replace(str(run), str(copy)))
        cli = [sys.executable, "-m", "rwbench.cli", "batch"]
        for _ in range(repeats):
            t1 = _timed(cli + unit, Path.cwd())
            t2 = _timed(cli + unit + unit, Path.cwd())
            values.append(2 * t1 - t2)
    return max(0.0, statistics.median(values))


def import_probe(modules: str, repeats: int) -> float:
    """Seconds to start an interpreter and import `modules` (median of `repeats`)."""
    return statistics.median(_timed([sys.executable, "-c", f"import {modules}"], Path.cwd()) for _ in range(repeats))


def sample_throughput(results: Path) -> tuple[int, float]:
    """(total images x NFE, seconds inside the sampler) over every shard's provenance."""
    total, seconds = 0, 0.0
    for path in (results / "runs").glob("*/provenance-*.json"):
        info = json.loads(path.read_text())
        total += int(info.get("nfe_total", 0))
        seconds += float(info.get("seconds", 0.0))
    return total, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.bench dag", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"), help="results_dir of a finished DAG")
    parser.add_argument("--probes", type=int, default=3, help="repeats of each fixed-cost probe (median)")
    args = parser.parse_args(argv)
    root = args.results / "benchmarks"
    jobs = read_jobs(root) if root.is_dir() else []
    if not jobs:
        print(f"no benchmark files under {root}: run the DAG first (`snakemake --cores 2`)", file=sys.stderr)
        return 2
    wall = max(j["end"] for j in jobs) - min(j["start"] for j in jobs)
    job_seconds = sum(j["seconds"] for j in jobs)
    fixed = {stage: fixed_cost_probe(args.results, stage, args.probes) for stage in PROBED}
    torch_start = import_probe("torch, rwbench.cli", args.probes)
    light_start = import_probe("rwbench.plan.grid, yaml", args.probes)
    print(f"results: {args.results}  jobs: {len(jobs)}  wall: {wall:.0f} s  job-seconds: {job_seconds:.0f} s "
          f"({job_seconds / wall:.2f} x wall)")
    print(f"start-up probes: python + torch + rwbench {torch_start:.2f} s, python + rwbench.plan.grid {light_start:.2f} s")
    print(f"{'rule':18s} {'jobs':>5s} {'job-s':>8s} {'F/job s':>8s} {'fixed s':>8s} {'share':>6s}")
    total_fixed = 0.0
    for rule in sorted({j["rule"] for j in jobs}):
        mine = [j for j in jobs if j["rule"] == rule]
        per_job = fixed.get(rule)
        if per_job is None:
            per_job = light_start if rule in TORCH_FREE else torch_start
        seconds = sum(j["seconds"] for j in mine)
        rule_fixed = min(seconds, per_job * len(mine))
        total_fixed += rule_fixed
        print(f"{rule:18s} {len(mine):5d} {seconds:8.1f} {per_job:8.2f} {rule_fixed:8.1f} {rule_fixed / seconds:6.1%}")
    print(f"fixed per-job cost: {total_fixed:.0f} s of {job_seconds:.0f} job-seconds = {total_fixed / job_seconds:.1%} "
          f"(target < 10 %)")
    work, seconds = sample_throughput(args.results)
    sample_job_s = sum(j["seconds"] for j in jobs if j["rule"] == "sample")
    if work and sample_job_s:
        print(f"samples x NFE: {work} in {sample_job_s:.0f} sample job-seconds = {work / sample_job_s:.0f} /s "
              f"({work / max(seconds, 1e-9):.0f} /s inside the samplers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
