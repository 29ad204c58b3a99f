# Stage 3: one spec.json per run (the resolved parameters), then sample shards (per-image seeds: layout-independent).


rule plan:
    wildcard_constraints:
        run_id=UNPACKED_RUNS,
    output:
        spec=f"{RESULTS}/runs/{{run_id}}/spec.json",
    params:
        digest=spec_param,
        command=lambda wildcards: rwbench_line(plan_command(wildcards.run_id)),
    log:
        f"{RESULTS}/logs/plan/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/plan/{{run_id}}.tsv",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        LOGGED


rule sample:
    wildcard_constraints:
        run_id=UNPACKED_RUNS,
    input:
        unpack(checkpoint_inputs),
        spec=f"{RESULTS}/runs/{{run_id}}/spec.json",
    output:
        shard=f"{RESULTS}/runs/{{run_id}}/shards/shard-{{shard}}.pt",
        provenance=f"{RESULTS}/runs/{{run_id}}/provenance-{{shard}}.json",
        trajectory=f"{RESULTS}/runs/{{run_id}}/trajectories/shard-{{shard}}.pt",
    params:
        digest=spec_param,
        command=lambda wildcards, threads: rwbench_line(sample_command(wildcards.run_id, wildcards.shard, threads)),
    log:
        f"{RESULTS}/logs/sample/{{run_id}}-{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sample/{{run_id}}-{{shard}}.tsv",
    threads: THREADS
    resources:
        runtime=lambda wildcards: 30 if DEVICE == "cpu" else 60,
        mem_mb=4000,
        gpu=lambda wildcards: 0 if DEVICE == "cpu" else 1,
    conda:
        CONDA_ENV
    shell:
        LOGGED
