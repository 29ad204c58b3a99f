# Packed jobs (config `packs: N`): each pack of whole runs (rwbench.packs) is planned (its spec.json files), sampled
# and evaluated (metrics, then the scale-space diagnostics of its trajectory runs) by one `rwbench batch` job per
# stage, so interpreter start-up and imports are paid once per pack and stage. The per-run rules in sample.smk / evaluate.smk / figures.smk then match
# no run (UNPACKED_RUNS); outputs and commands are the same.
import shlex


def _batch(commands):
    """`rwbench batch` with one quoted argument per command."""
    return f"{RWBENCH} batch " + " ".join(shlex.quote(c) for c in commands)


def _sample_command(run_id, shard):
    d = run_dir(run_id)
    return (f"sample --spec {d}/spec.json --shard {int(shard)} --out {d}/shards/shard-{shard}.pt "
            f"--provenance {d}/provenance-{shard}.json --trajectory {d}/trajectories/shard-{shard}.pt "
            f"--device {DEVICE} --threads {THREADS}")


def _pack_checkpoints(runs):
    """Union of the checkpoint inputs of a pack's runs."""
    files = set()
    for run_id in runs:
        files.update(checkpoint_inputs(SimpleNamespace(run_id=run_id)).values())
    return sorted(files)


def _pack_evaluate_inputs(runs):
    files = set()
    for run_id in runs:
        for value in evaluate_inputs(SimpleNamespace(run_id=run_id)).values():
            files.update([value] if isinstance(value, str) else value)
    return sorted(files)


def _pack_scalespace_inputs(runs):
    files = set()
    for run_id in runs:
        for value in scalespace_inputs(SimpleNamespace(run_id=run_id)).values():
            files.update([value] if isinstance(value, str) else value)
    return sorted(files)


for _i, _runs in enumerate(PACKS):
    _name = f"p{_i:02d}"

    # the pack's spec.json files (torch-free; a changed spec re-plans its pack, whose sample job re-runs anyway)
    rule:
        name:
            f"plan_{_name}"
        output:
            [f"{run_dir(r)}/spec.json" for r in _runs],
        params:
            digest=spec_digest({r: RUNS[r] for r in _runs}),
            command=_batch([f"plan --config {CONFIGFILE} --results-dir {RESULTS} --run {r} --out {run_dir(r)}/spec.json"
                            for r in _runs]),
        log:
            f"{RESULTS}/logs/plan/pack-{_name}.log",
        benchmark:
            f"{RESULTS}/benchmarks/plan/pack-{_name}.tsv"
        localrule: True
        conda:
            CONDA_ENV
        shell:
            "{params.command} > '{log}' 2>&1"

    rule:
        name:
            f"sample_{_name}"
        input:
            _pack_checkpoints(_runs),
            [f"{run_dir(r)}/spec.json" for r in _runs],
        output:
            [f"{run_dir(r)}/{kind}-{s}.{ext}" if kind == "provenance" else f"{run_dir(r)}/{kind}/shard-{s}.pt"
             for r in _runs for s in shard_names(r)
             for kind, ext in (("shards", "pt"), ("provenance", "json"), ("trajectories", "pt"))],
        params:
            digest=spec_digest({r: RUNS[r] for r in _runs}),
            command=_batch([_sample_command(r, s) for r in _runs for s in shard_names(r)]),
        log:
            f"{RESULTS}/logs/sample/pack-{_name}.log",
        benchmark:
            f"{RESULTS}/benchmarks/sample/pack-{_name}.tsv"
        threads: THREADS
        resources:
            runtime=60,
            mem_mb=4000,
            gpu=0 if DEVICE == "cpu" else 1,
        conda:
            CONDA_ENV
        shell:
            "{params.command} > '{log}' 2>&1"

    # evaluate, then scale-space diagnostics of the pack's trajectory runs: one process, one start-up
    _traj = [r for r in _runs if RUNS[r].get("trajectory_points")]

    rule:
        name:
            f"evaluate_{_name}"
        input:
            sorted(set(_pack_evaluate_inputs(_runs)) | set(_pack_scalespace_inputs(_traj))),
        output:
            [f"{run_dir(r)}/metrics.csv" for r in _runs]
            + [f"{run_dir(r)}/{name}" for r in _traj for name in ("scalespace.csv", "scalespace-monotonicity.csv")],
        params:
            command=_batch([f"evaluate --run {run_dir(r)} --reference-cache {RESULTS}/reference {evaluate_options()} "
                            f"--device {DEVICE}" for r in _runs]
                           + [f"scalespace --run {run_dir(r)} {scalespace_options()} --device {DEVICE}" for r in _traj]),
        log:
            f"{RESULTS}/logs/evaluate/pack-{_name}.log",
        benchmark:
            f"{RESULTS}/benchmarks/evaluate/pack-{_name}.tsv"
        threads: THREADS
        resources:
            runtime=60,
            mem_mb=4000,
            gpu=0 if DEVICE == "cpu" else 1,
        conda:
            CONDA_ENV
        shell:
            "{params.command} > '{log}' 2>&1"
