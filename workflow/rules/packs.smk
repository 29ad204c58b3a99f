# Packed jobs (config `packs: N`): each pack of whole runs (rwbench.plan.packs) is planned (its spec.json files), sampled
# and evaluated (metrics, then the scale-space diagnostics of its trajectory runs) by one `rwbench batch` job per
# stage, so interpreter start-up and imports are paid once per pack and stage. The per-run rules in sample.smk,
# evaluate.smk and figures.smk then match no run (UNPACKED_RUNS); outputs are the same, and so are the commands: both
# come from the builders of common.smk.


for _i, _runs in enumerate(PACKS):
    _name = f"p{_i:02d}"
    # evaluate, then scale-space diagnostics of the pack's trajectory runs: one process, one start-up
    _traj = [r for r in _runs if RUNS[r].get("trajectory_points")]

    # the pack's spec.json files (torch-free; a changed spec re-plans its pack, whose sample job re-runs anyway)
    rule:
        name:
            f"plan_{_name}"
        output:
            [f"{run_dir(r)}/spec.json" for r in _runs],
        params:
            digest=spec_digest({r: RUNS[r] for r in _runs}),
            command=lambda wildcards, runs=_runs: rwbench_line(batch_command([plan_command(r) for r in runs])),
        log:
            f"{RESULTS}/logs/plan/pack-{_name}.log",
        benchmark:
            f"{RESULTS}/benchmarks/plan/pack-{_name}.tsv"
        localrule: True
        resources:
            **stage_resources("plan"),
        conda:
            CONDA_ENV
        shell:
            "{params.command} > {log:q} 2>&1"

    rule:
        name:
            f"sample_{_name}"
        input:
            pack_checkpoints(_runs),
            [f"{run_dir(r)}/spec.json" for r in _runs],
        output:
            [f"{run_dir(r)}/{kind}-{s}.{ext}" if kind == "provenance" else f"{run_dir(r)}/{kind}/shard-{s}.pt"
             for r in _runs for s in shard_names(r)
             for kind, ext in (("shards", "pt"), ("provenance", "json"), ("trajectories", "pt"))],
        params:
            digest=spec_digest({r: RUNS[r] for r in _runs}),
            command=lambda wildcards, runs=_runs: rwbench_line(batch_command(
                [sample_command(r, s) for r in runs for s in shard_names(r)])),
        log:
            f"{RESULTS}/logs/sample/pack-{_name}.log",
        benchmark:
            f"{RESULTS}/benchmarks/sample/pack-{_name}.tsv"
        threads: THREADS
        resources:
            **stage_resources("sample", runtime=60, mem_mb=4000, gpu=0 if DEVICE == "cpu" else 1),
        conda:
            CONDA_ENV
        shell:
            "{params.command} > {log:q} 2>&1"

    rule:
        name:
            f"evaluate_{_name}"
        input:
            sorted(set(pack_inputs(evaluate_inputs, _runs)) | set(pack_inputs(scalespace_inputs, _traj))),
        output:
            [f"{run_dir(r)}/metrics.csv" for r in _runs]
            + [f"{run_dir(r)}/{name}" for r in _traj for name in ("scalespace.csv", "scalespace-monotonicity.csv")],
        params:
            command=lambda wildcards, runs=_runs, traj=_traj: rwbench_line(batch_command(
                [evaluate_command(r) for r in runs] + [scalespace_command(r) for r in traj])),
        log:
            f"{RESULTS}/logs/evaluate/pack-{_name}.log",
        benchmark:
            f"{RESULTS}/benchmarks/evaluate/pack-{_name}.tsv"
        threads: THREADS
        resources:
            **stage_resources("evaluate", runtime=60, mem_mb=4000, gpu=0 if DEVICE == "cpu" else 1),
        conda:
            CONDA_ENV
        shell:
            "{params.command} > {log:q} 2>&1"
