"""Design the claims ledger before the data: run every claim's cells as a pilot on seeds the confirmatory runs never use
(rwbench.plan.claims.PILOT_SEED_BASE and up), measure the per-image spread of each claim's statistic with the same
procedure the ledger uses (rwbench.analysis.claims), and write the sample size for 80 % power at the claim's declared
smallest effect, with the power and minimal detectable difference of the n the config runs.

    python -m rwbench.tools.design --config config/default.yaml --out config/design/default.yaml

The pilot's runs go to <results_dir>/pilot/runs (the embedded models of <results_dir>/embedded are used, so run the
default DAG's training first, or `snakemake --cores 2 <results_dir>/embedded/...`). The output file is what the
config's `claims_design:` names; `rwbench claims` copies its numbers beside each claim.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
from pathlib import Path

from rwbench.plan import claims as plan_claims


def pilot_config(config: dict, claims: dict, n: int, seeds: list[int], work: Path) -> dict:
    """The config with the claims' experiments on pilot seeds and n images per cell (targets for posterior tasks)."""
    pilot = copy.deepcopy(config)
    pilot["results_dir"] = str(work)
    for name in plan_claims.claim_experiments(claims):
        exp = pilot["experiments"][name]
        exp["seeds"] = list(seeds)
        exp.pop("seed", None)
        if exp.get("tasks") and any(t != "uncond" for t in exp["tasks"]):
            exp["n_targets"] = max(4, n // int(exp.get("samples_per_target", 8)))
        else:
            exp["n_images"] = n
            exp["shard_size"] = n
            exp.pop("trajectory_points", None)
            exp.pop("trajectory_images", None)
    return pilot


PILOT_CELLS = 1   # claims over many cells (calibration in every task x eta cell) pilot their first cell only


def pilot_selector(sel: dict, cells: list) -> list:
    """The cells a claim's pilot runs: the first PILOT_CELLS (one-cell claims: their cell; calibration: per-cell spread)."""
    return cells[:PILOT_CELLS]


def needed_runs(config: dict, claims: dict) -> list[dict]:
    """The specs of the cells a claim's pilot reads (not the rest of its experiments)."""
    from rwbench.analysis.claims import _cells

    cache: dict = {}
    specs: dict[str, dict] = {}
    for claim in claims.values():
        for side in ("a", "b") if claim["metric"] not in plan_claims.CELL_FREE else ():
            if claim[side] == plan_claims.EXACT:
                continue
            for cell in pilot_selector(claim[side], _cells(config, claim[side], cache)):
                for spec in cell.specs:
                    specs[spec["run_id"]] = spec
    return list(specs.values())


def run_pilot(specs: list[dict], runs_dir: Path, reference_cache: Path, extractor: str | None = None) -> None:
    """Sample and evaluate each pilot run in this process (the library calls the DAG's commands make)."""
    from rwbench.io import write_json
    from rwbench.metrics.evaluate import evaluate_run
    from rwbench.run import rundir
    from rwbench.run.sample import sample_images, shard_indices

    for i, spec in enumerate(specs):
        run = runs_dir / spec["run_id"]
        if (run / "metrics.csv").is_file():
            continue
        write_json(run / "spec.json", spec)
        for shard in range(int(spec["n_shards"])):
            out = sample_images(spec, shard_indices(spec, shard), progress=False)
            out.pop("_trajectory", None), out.pop("_step_param", None)
            out.update(rundir.identity(spec))
            rundir.save_torch(out, rundir.shard_path(run, shard))
        evaluate_run(run, reference_cache=str(reference_cache), extractor=extractor, prc=False, allow_download=False)
        print(f"pilot {i + 1}/{len(specs)}: {spec['run_id']}", file=sys.stderr, flush=True)


def design(config: dict, out: Path, n: int = 128, n_seeds: int = 1, work: Path | None = None,
           target: float = 0.8) -> dict:
    """Run the pilot and return {claim id: design} (also written to `out` as YAML)."""
    import yaml

    from rwbench.analysis import claims as ledger
    from rwbench.analysis.compare import RunData
    from rwbench.io import atomic_write

    claims = plan_claims.check_claims(config)
    results = Path(config["results_dir"])
    work = Path(work or results / "pilot")
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "embedded").exists():
        os.symlink(os.path.relpath(results / "embedded", work), work / "embedded")
    seeds = [plan_claims.PILOT_SEED_BASE + j for j in range(n_seeds)]
    pilot = pilot_config(config, claims, n, seeds, work)
    extractor = (config.get("metrics") or {}).get("extractor")
    run_pilot(needed_runs(pilot, claims), work / "runs", results / "reference", extractor)
    ev = ledger.Evidence(RunData(work / "runs", results / "reference"), work / "runs")
    cache: dict = {}
    full_cache: dict = {}
    designs = {}
    for cid, claim in claims.items():
        if claim["metric"] in plan_claims.CELL_FREE:
            designs[cid] = {"note": "read from a table of the DAG (exact check or cross-cell statistic): no pilot"}
            continue
        if claim["metric"] == "coverage":      # the pilot ran the first cell: select exactly it
            first = pilot_selector(claim["a"], ledger._cells(pilot, claim["a"], cache))
            claim = dict(claim, a=dict(claim["a"], task=first[0].key["task"], eta=first[0].key.get("eta")))
        row = ledger.evaluate_claim(cid, claim, pilot, ev, work, cache)
        if not math.isfinite(row["estimate"]):
            designs[cid] = {"note": f"pilot gave no estimate: {row['note']}"}
            continue
        level_q = ledger._z((1 + row["level"]) / 2)
        se = (row["ci_hi"] - row["ci_lo"]) / (2 * level_q)
        sd_unit = se * math.sqrt(row["n"])
        effect = claim.get("effect", claim.get("margin"))
        a_full = ledger._cells(config, claim["a"], full_cache)
        n_run = sum(len(s_images(s)) for c in a_full for s in c.specs)     # images (targets) the config runs
        se_run = sd_unit / math.sqrt(max(n_run, 1))
        designs[cid] = {"pilot_seeds": list(seeds), "pilot_n": int(row["n"]), "pilot_sd": float(sd_unit),
                        "pilot_estimate": float(row["estimate"]),
                        "n": ledger.design_n(sd_unit, effect, claim["question"], float(claim["alpha"]), target)
                        if sd_unit > 0 else 2,
                        "n_run": n_run, "power_run": ledger.power(se_run, effect, claim["question"],
                                                                  float(claim["alpha"])),
                        "mdd_run": ledger.mdd(se_run, claim["question"], float(claim["alpha"]), target)}
        print(f"design {cid}: pilot sd {sd_unit:.4g} (n {row['n']}), n for {target:.0%} power at {effect}: "
              f"{designs[cid]['n']}; the config runs {n_run} (power {designs[cid]['power_run']:.2f})", flush=True)
    with atomic_write(out, "w") as handle:
        handle.write("# written by `python -m rwbench.tools.design` before the confirmatory run; pilot seeds are never "
                     "used by the config's experiments\n")
        yaml.safe_dump({"designs": designs}, handle, sort_keys=False)
    return designs


def s_images(spec: dict) -> range:
    """The image indices of a run (unconditional: n_images; posterior: n_targets targets)."""
    if spec.get("task", "uncond") == "uncond":
        return range(int(spec["n_images"]))
    return range(int(spec.get("n_targets") or 0))


def confirmatory(config: dict, designs: dict, source: str, runs_dir: Path | None = None, cap: int = 25_000) -> str:
    """YAML of a confirmatory config: the claims' experiments only, each at the largest n its claims' designs ask for
    (capped; images per cell, targets per cell for posterior claims), writing results/confirmatory and
    reports/confirmatory. With `runs_dir` (the default run's runs), the run time is estimated from its provenance
    (seconds per image of each cell, scaled to the new n)."""
    import yaml

    claims = plan_claims.check_claims(config)
    out = copy.deepcopy(config)
    out["results_dir"], out["reports_dir"] = "results/confirmatory", "reports/confirmatory"
    out["experiments"] = {}
    wanted: dict[str, int] = {}
    for cid, claim in claims.items():
        n = int((designs.get(cid) or {}).get("n") or 0)
        for name in plan_claims.claim_experiments({cid: claim}):
            wanted[name] = max(wanted.get(name, 0), min(n, cap))
    seconds = 0.0
    for name, n in wanted.items():
        exp = copy.deepcopy(config["experiments"][name])
        posterior = exp.get("tasks") and any(t != "uncond" for t in exp["tasks"])
        key = "n_targets" if posterior else "n_images"
        old = int(exp.get(key, 0) or 0)
        if n > old:
            exp[key] = n
            if not posterior:
                exp["shard_size"] = min(n, 1024)
        out["experiments"][name] = exp
        if runs_dir is not None:
            seconds += _estimate(runs_dir, name, max(n, old) / max(old, 1))
    head = [f"# Generated by `python -m rwbench.tools.design --confirmatory` from {source} and its claims_design: the",
            "# claims' experiments at the n their pilots ask for (80 % power at each claim's smallest effect; capped at",
            f"# {cap} images). Run: snakemake --cores 2 --configfile config/confirmatory.yaml"]
    if runs_dir is not None:
        head.append(f"# Estimated sampling time on the default run's machine: {seconds / 60:.0f} min of job time "
                    "(provenance seconds per image x the new n; evaluation and training come on top)")
    return "\n".join(head) + "\n" + yaml.safe_dump(out, sort_keys=False, width=120)


def _estimate(runs_dir: Path, experiment: str, factor: float) -> float:
    """Sampling seconds of an experiment's runs in the default run (provenance), times factor."""
    import json

    total = 0.0
    for path in Path(runs_dir).glob(f"{experiment}__*/provenance-*.json"):
        total += float(json.loads(path.read_text()).get("seconds", 0.0))
    return total * factor


def main(argv=None) -> int:
    from rwbench.plan.config import load_and_validate

    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.design", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True, help="design YAML (the config's claims_design)")
    parser.add_argument("--pilot-n", type=int, default=128, help="images per pilot cell")
    parser.add_argument("--pilot-seeds", type=int, default=1, help="pilot seeds per cell (from PILOT_SEED_BASE)")
    parser.add_argument("--work", default=None, help="pilot results folder (default: <results_dir>/pilot)")
    parser.add_argument("--confirmatory", default=None,
                        help="instead of a pilot: write a confirmatory config (the claims' experiments at the designs' n)")
    parser.add_argument("--runs-dir", default=None, help="the default run's runs (run-time estimate)")
    args = parser.parse_args(argv)
    config = load_and_validate(args.config)
    if args.confirmatory:
        from rwbench.analysis.claims import read_design
        from rwbench.io import atomic_write

        text = confirmatory(config, read_design(args.out), args.config,
                            Path(args.runs_dir) if args.runs_dir else None)
        with atomic_write(args.confirmatory, "w") as handle:
            handle.write(text)
        print(f"{args.confirmatory}: {text.splitlines()[3] if len(text.splitlines()) > 3 else ''}")
        return 0
    design(config, Path(args.out), args.pilot_n, args.pilot_seeds, Path(args.work) if args.work else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
