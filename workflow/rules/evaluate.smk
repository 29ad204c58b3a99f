# Stage 4: reference statistics (once per reference set), metrics per run, floors per (reference, n), one table.


rule reference:
    wildcard_constraints:
        reference=REFERENCE_NAMES,
    input:
        files=lambda wildcards: reference_input(wildcards.reference),
        weights=lambda wildcards: [extractor_weights()] if extractor_weights() else [],
    output:
        record=f"{RESULTS}/reference/{{reference}}.json",
    params:
        command=lambda wildcards: rwbench_line(reference_command(wildcards.reference)),
    log:
        f"{RESULTS}/logs/reference/{{reference}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/reference/{{reference}}.tsv",
    threads: THREADS
    resources:
        runtime=60,
        mem_mb=4000,
        gpu=lambda wildcards: 0 if DEVICE == "cpu" else 1,
    conda:
        CONDA_ENV
    shell:
        LOGGED


rule evaluate:
    wildcard_constraints:
        run_id=UNPACKED_RUNS,
    input:
        unpack(evaluate_inputs),
    output:
        metrics=f"{RESULTS}/runs/{{run_id}}/metrics.csv",
    params:
        command=lambda wildcards: rwbench_line(evaluate_command(wildcards.run_id)),
    log:
        f"{RESULTS}/logs/evaluate/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{run_id}}.tsv",
    threads: THREADS
    resources:
        runtime=30,
        mem_mb=4000,
        gpu=lambda wildcards: 0 if DEVICE == "cpu" else 1,
    conda:
        CONDA_ENV
    shell:
        LOGGED


rule floors:
    input:
        unpack(floors_inputs),
    output:
        table=f"{RESULTS}/floors.csv",
        html=report(f"{REPORTS}/tables/floors.html", caption="../report/tables/floors.rst", category="Tables",
                    subcategory="floors"),
    params:
        command=lambda wildcards: rwbench_line(floors_command()),
    log:
        f"{RESULTS}/logs/floors.log",
    benchmark:
        f"{RESULTS}/benchmarks/floors.tsv",
    threads: THREADS
    resources:
        runtime=30,
        mem_mb=4000,
        gpu=lambda wildcards: 0 if DEVICE == "cpu" else 1,
    conda:
        CONDA_ENV
    shell:
        LOGGED


rule aggregate:
    input:
        metrics=[f"{RESULTS}/runs/{r}/metrics.csv" for r in RUNS],
    output:
        table=report(f"{RESULTS}/metrics.csv", caption="../report/metrics.rst", category="Downloads"),
    params:
        command=lambda wildcards: rwbench_line(aggregate_command()),
    log:
        f"{RESULTS}/logs/aggregate.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate.tsv",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        LOGGED
