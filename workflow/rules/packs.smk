# Packed jobs (config `packs: N`): each pack of whole runs (rwbench.plan.packs) is planned (its spec.json files), sampled
# and evaluated (metrics, then the scale-space diagnostics of its trajectory runs) by one `rwbench batch` job per
# stage, so interpreter start-up and imports are paid once per pack and stage. The per-run rules in sample.smk,
# evaluate.smk and figures.smk then match no run (UNPACKED_RUNS); outputs are the same, and so are the commands: both
# come from the builders of common.smk. A failing command never stops its pack: `rwbench batch --cells` records it in
# the run's FAILED-<command>.json, leaves empty placeholders for that run's outputs and runs the others; later stages
# skip the run, and the end of snakemake names it and exits non-zero (failures.smk, rwbench.plan.failures).


def sample_outputs(run_id, shard):
    """What the sample command of one shard writes: the shard, its provenance and its trajectories."""
    d = run_dir(run_id)
    return [f"{d}/shards/shard-{shard}.pt", f"{d}/provenance-{shard}.json", f"{d}/trajectories/shard-{shard}.pt"]


SCALESPACE_FILES = ("scalespace.csv", "scalespace-monotonicity.csv")


for _i, _runs in enumerate(PACKS):
    _name = f"p{_i:02d}"
    # evaluate, then scale-space diagnostics of the pack's trajectory runs: one process, one start-up
    _traj = [r for r in _runs if RUNS[r].get("trajectory_points")]
    _logs = {stage: f"{RESULTS}/logs/{stage}/pack-{_name}.log" for stage in ("plan", "sample", "evaluate")}

    # the pack's spec.json files (torch-free; a changed spec re-plans its pack, whose sample job re-runs anyway)
    rule:
        name:
            f"plan_{_name}"
        output:
            [f"{run_dir(r)}/spec.json" for r in _runs],
        params:
            digest=spec_digest({r: RUNS[r] for r in _runs}),
            command=lambda wildcards, runs=_runs, log_file=_logs["plan"]: rwbench_line(
                cells_batch_command([(r, plan_command(r), [f"{run_dir(r)}/spec.json"]) for r in runs], log_file)),
        log:
            _logs["plan"],
        benchmark:
            f"{RESULTS}/benchmarks/plan/pack-{_name}.tsv"
        localrule: True
        resources:
            **stage_resources("plan"),
        conda:
            CONDA_ENV
        shell:
            LOGGED

    rule:
        name:
            f"sample_{_name}"
        input:
            pack_checkpoints(_runs),
            [f"{run_dir(r)}/spec.json" for r in _runs],
        output:
            [f for r in _runs for s in shard_names(r) for f in sample_outputs(r, s)],
        params:
            digest=spec_digest({r: RUNS[r] for r in _runs}),
            command=lambda wildcards, runs=_runs, log_file=_logs["sample"]: rwbench_line(
                cells_batch_command([(r, sample_command(r, s), sample_outputs(r, s)) for r in runs
                                     for s in shard_names(r)], log_file)),
        log:
            _logs["sample"],
        benchmark:
            f"{RESULTS}/benchmarks/sample/pack-{_name}.tsv"
        threads: THREADS
        resources:
            **stage_resources("sample", runtime=60, mem_mb=4000, gpu=0 if DEVICE == "cpu" else 1),
        conda:
            CONDA_ENV
        shell:
            LOGGED

    rule:
        name:
            f"evaluate_{_name}"
        input:
            sorted(set(pack_inputs(evaluate_inputs, _runs)) | set(pack_inputs(scalespace_inputs, _traj))),
        output:
            [f"{run_dir(r)}/metrics.csv" for r in _runs]
            + [f"{run_dir(r)}/{name}" for r in _traj for name in SCALESPACE_FILES],
        params:
            command=lambda wildcards, runs=_runs, traj=_traj, log_file=_logs["evaluate"]: rwbench_line(
                cells_batch_command([(r, evaluate_command(r), [f"{run_dir(r)}/metrics.csv"]) for r in runs]
                                    + [(r, scalespace_command(r), [f"{run_dir(r)}/{n}" for n in SCALESPACE_FILES])
                                       for r in traj], log_file)),
        log:
            _logs["evaluate"],
        benchmark:
            f"{RESULTS}/benchmarks/evaluate/pack-{_name}.tsv"
        threads: THREADS
        resources:
            **stage_resources("evaluate", runtime=60, mem_mb=4000, gpu=0 if DEVICE == "cpu" else 1),
        conda:
            CONDA_ENV
        shell:
            LOGGED
