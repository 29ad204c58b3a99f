# Stage 3: one spec.json per run (the resolved parameters), then sample shards (per-image seeds: layout-independent).


rule plan:
    wildcard_constraints:
        run_id=UNPACKED_RUNS,
    output:
        spec=f"{RESULTS}/runs/{{run_id}}/spec.json",
    params:
        rwbench=RWBENCH,
        digest=spec_param,
        config=CONFIGFILE,
        results=lambda wildcards, output: str(Path(output.spec).parents[2]),
    log:
        f"{RESULTS}/logs/plan/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/plan/{{run_id}}.tsv",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "{params.rwbench} plan --config {params.config} --results-dir {params.results} --run '{wildcards.run_id}' --out '{output.spec}' > '{log}' 2>&1"


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
        rwbench=RWBENCH,
        digest=spec_param,
        device=DEVICE,
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
        "{params.rwbench} sample --spec '{input.spec}' --shard {wildcards.shard} --out '{output.shard}' "
        "--provenance '{output.provenance}' --trajectory '{output.trajectory}' --device {params.device} --threads {threads} > '{log}' 2>&1"
