# Stage 4: reference statistics (once per reference set), metrics per run, floors per (reference, n), one table.


rule reference:
    input:
        files=lambda wildcards: reference_input(wildcards.reference),
        weights=lambda wildcards: [extractor_weights()] if extractor_weights() else [],
    output:
        record=f"{RESULTS}/reference/{{reference}}.json",
    params:
        rwbench=RWBENCH,
        args=lambda wildcards: reference_args(wildcards.reference),
        extractor=metrics_settings()["extractor"],
        weights=lambda wildcards: f"--extractor-weights {extractor_weights()}" if extractor_weights() else "",
        cache=lambda wildcards, output: str(Path(output.record).parent),
        device=DEVICE,
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
        "{params.rwbench} reference {params.args} --extractor {params.extractor} {params.weights} "
        "--reference-cache {params.cache} --device {params.device} --record '{output.record}' > '{log}' 2>&1"


rule evaluate:
    wildcard_constraints:
        run_id=UNPACKED_RUNS,
    input:
        unpack(evaluate_inputs),
    output:
        metrics=f"{RESULTS}/runs/{{run_id}}/metrics.csv",
    params:
        rwbench=RWBENCH,
        run=lambda wildcards: run_dir(wildcards.run_id),
        options=evaluate_options(),
        cache=f"{RESULTS}/reference",
        device=DEVICE,
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
        "{params.rwbench} evaluate --run '{params.run}' --reference-cache {params.cache} {params.options} "
        "--device {params.device} > '{log}' 2>&1"


rule floors:
    input:
        unpack(floors_inputs),
    output:
        table=f"{RESULTS}/floors.csv",
        html=report(f"{REPORTS}/tables/floors.html", caption="../report/tables/floors.rst", category="Tables",
                    subcategory="floors"),
    params:
        rwbench=RWBENCH,
        specs=lambda wildcards, input: " ".join(f"--spec '{p}'" for p in input.specs),
        options=floors_options(),
        cache=f"{RESULTS}/reference",
        device=DEVICE,
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
        "{params.rwbench} floors {params.specs} --reference-cache {params.cache} {params.options} "
        "--device {params.device} --out {output.table} --html {output.html} > '{log}' 2>&1"


rule aggregate:
    input:
        metrics=[f"{RESULTS}/runs/{r}/metrics.csv" for r in RUNS],
    output:
        table=report(f"{RESULTS}/metrics.csv", caption="../report/metrics.rst", category="Downloads"),
    params:
        rwbench=RWBENCH,
        runs=" ".join(f"--run '{run_dir(r)}'" for r in RUNS),
    log:
        f"{RESULTS}/logs/aggregate.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate.tsv",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "{params.rwbench} aggregate {params.runs} --out {output.table} > {log} 2>&1"
