# Stage 5: auxiliary tables (schedules, template-vs-native equivalence), one rule per figure, scale-space diagnostics.


rule schedules_table:
    output:
        table=f"{RESULTS}/tables/schedules.csv",
    params:
        options=schedules_table_options(),
    log:
        f"{RESULTS}/logs/schedules_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/schedules_table.tsv",
    localrule: True
    conda:
        "../../environment.yml"
    shell:
        "rwbench schedules {params.options} --out {output.table} > {log} 2>&1"


rule equivalence_table:
    output:
        table=f"{RESULTS}/tables/equivalence.csv",
    params:
        options=equivalence_options(),
    log:
        f"{RESULTS}/logs/equivalence_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/equivalence_table.tsv",
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../environment.yml"
    shell:
        "rwbench equivalence {params.options} --out {output.table} > {log} 2>&1"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(f"{REPORTS}/figures/{{figure}}.png", caption="../report/figure.rst", category="Figures",
                   subcategory="{figure}"),
        pdf=f"{REPORTS}/figures/{{figure}}.pdf",
        table=report(f"{REPORTS}/tables/{{figure}}.csv", caption="../report/table.rst", category="Tables",
                     subcategory="{figure}"),
    params:
        runs=f"{RESULTS}/runs",
        tables=f"{RESULTS}/tables",
        out=lambda wildcards, output: str(Path(output.png).parent.parent),
    log:
        f"{RESULTS}/logs/figure-{{figure}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure-{{figure}}.tsv",
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../environment.yml"
    shell:
        "rwbench figures --only {wildcards.figure} --metrics {input.metrics} --runs-dir {params.runs} "
        "--tables-dir {params.tables} --out {params.out} > {log} 2>&1"


rule scalespace:
    wildcard_constraints:
        run_id=UNPACKED_RUNS,
    input:
        unpack(scalespace_inputs),
    output:
        table=f"{RESULTS}/runs/{{run_id}}/scalespace.csv",
        monotonicity=f"{RESULTS}/runs/{{run_id}}/scalespace-monotonicity.csv",
    params:
        run=lambda wildcards: run_dir(wildcards.run_id),
        options=scalespace_options(),
        device=DEVICE,
    log:
        f"{RESULTS}/logs/scalespace/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/scalespace/{{run_id}}.tsv",
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
        gpu=lambda wildcards: 0 if DEVICE == "cpu" or not (config.get("scalespace") or {}).get("fid_points") else 1,
    conda:
        "../../environment.yml"
    shell:
        "rwbench scalespace --run '{params.run}' {params.options} --device {params.device} > '{log}' 2>&1"


rule scalespace_figure:
    input:
        tables=[f"{run_dir(r)}/scalespace.csv" for r in trajectory_runs()],
    output:
        png=report(f"{REPORTS}/figures/scalespace.png", caption="../report/scalespace.rst", category="Figures",
                   subcategory="scalespace"),
        pdf=f"{REPORTS}/figures/scalespace.pdf",
        table=report(f"{REPORTS}/tables/scalespace.csv", caption="../report/scalespace.rst", category="Tables",
                     subcategory="scalespace"),
    params:
        runs=lambda wildcards, input: str(Path(input.tables[0]).parent.parent) if input.tables else f"{RESULTS}/runs",
        out=lambda wildcards, output: str(Path(output.png).parent.parent),
    log:
        f"{RESULTS}/logs/scalespace_figure.log",
    benchmark:
        f"{RESULTS}/benchmarks/scalespace_figure.tsv",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "rwbench scalespace --figure --runs-dir {params.runs} --out {params.out} > {log} 2>&1"


rule runs_table:
    input:
        metrics=f"{RESULTS}/metrics.csv",
    output:
        table=report(f"{REPORTS}/tables/runs.csv", caption="../report/runs.rst", category="Runs"),
        markdown=f"{REPORTS}/tables/runs.md",
    params:
        runs=f"{RESULTS}/runs",
        out=lambda wildcards, output: str(Path(output.table).parent.parent),
    log:
        f"{RESULTS}/logs/runs_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/runs_table.tsv",
    conda:
        "../../environment.yml"
    shell:
        "rwbench figures --only runs --metrics {input.metrics} --runs-dir {params.runs} --out {params.out} > {log} 2>&1"
