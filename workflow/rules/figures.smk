# Stage 5: auxiliary tables (schedules, template-vs-native equivalence), one rule per figure, scale-space diagnostics.


rule schedules_table:
    output:
        table=f"{RESULTS}/tables/schedules.csv",
    params:
        rwbench=RWBENCH,
        options=schedules_table_options(),
    log:
        f"{RESULTS}/logs/schedules_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/schedules_table.tsv",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "{params.rwbench} schedules {params.options} --out {output.table} > {log} 2>&1"


rule equivalence_table:
    output:
        table=f"{RESULTS}/tables/equivalence.csv",
    params:
        rwbench=RWBENCH,
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
        CONDA_ENV
    shell:
        "{params.rwbench} equivalence {params.options} --out {output.table} > {log} 2>&1"


# One rule per figure this config feeds (figure_names()): its plot, its table (CSV, Markdown and the HTML page the
# report shows inline) and, where the figure has them, its sample grids (figure_extras()), each with its own caption.
for _figure in figure_names():

    rule:
        name:
            f"figure_{_figure.replace('-', '_')}"
        input:
            **figure_inputs(_figure),
        output:
            **figure_outputs(_figure),
        params:
            rwbench=RWBENCH,
            figure=_figure,
            runs=lambda wildcards, input: str(Path(input.metrics).parent / "runs"),
            tables=lambda wildcards, input: str(Path(input.metrics).parent / "tables"),
            out=lambda wildcards, output: str(Path(output[0]).parent.parent),
        log:
            f"{RESULTS}/logs/figure-{_figure}.log",
        benchmark:
            f"{RESULTS}/benchmarks/figure-{_figure}.tsv",
        threads: 1
        resources:
            runtime=10,
            mem_mb=2000,
        conda:
            CONDA_ENV
        shell:
            "{params.rwbench} figures --only {params.figure} --metrics {input.metrics} --runs-dir {params.runs} "
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
        rwbench=RWBENCH,
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
        CONDA_ENV
    shell:
        "{params.rwbench} scalespace --run '{params.run}' {params.options} --device {params.device} > '{log}' 2>&1"


rule scalespace_figure:
    input:
        tables=[f"{run_dir(r)}/scalespace.csv" for r in trajectory_runs()],
    output:
        png=report(f"{REPORTS}/figures/scalespace.png", caption="../report/figures/scalespace.rst", category="Figures",
                   subcategory="scalespace"),
        pdf=f"{REPORTS}/figures/scalespace.pdf",
        table=f"{REPORTS}/tables/scalespace.csv",
        markdown=f"{REPORTS}/tables/scalespace.md",
        html=report(f"{REPORTS}/tables/scalespace.html", caption="../report/tables/scalespace.rst", category="Tables",
                    subcategory="scalespace"),
    params:
        rwbench=RWBENCH,
        runs=lambda wildcards, input: str(Path(input.tables[0]).parent.parent) if input.tables else f"{RESULTS}/runs",
        out=lambda wildcards, output: str(Path(output.png).parent.parent),
    log:
        f"{RESULTS}/logs/scalespace_figure.log",
    benchmark:
        f"{RESULTS}/benchmarks/scalespace_figure.tsv",
    threads: 1
    conda:
        CONDA_ENV
    shell:
        "{params.rwbench} scalespace --figure --runs-dir {params.runs} --out {params.out} > {log} 2>&1"


rule runs_table:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        comparisons=f"{REPORTS}/tables/comparisons.csv",   # the front page (summary.html) shows it
    output:
        table=f"{REPORTS}/tables/runs.csv",
        markdown=f"{REPORTS}/tables/runs.md",
        html=report(f"{REPORTS}/tables/runs.html", caption="../report/runs.rst", category="Runs"),
        summary=f"{REPORTS}/summary.html",
    params:
        rwbench=RWBENCH,
        runs=f"{RESULTS}/runs",
        out=lambda wildcards, output: str(Path(output.table).parent.parent),
    log:
        f"{RESULTS}/logs/runs_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/runs_table.tsv",
    conda:
        CONDA_ENV
    shell:
        "{params.rwbench} figures --only runs --metrics {input.metrics} --runs-dir {params.runs} --out {params.out} > {log} 2>&1"


# Paired differences with 95 % intervals and decisions for every comparison the figures make (rwbench.compare,
# docs/statistics.md). It reads each run's features.safetensors / metrics-per-image.csv, which evaluate writes beside
# the run's metrics.csv (inputs of the aggregated table), and the reference statistics evaluate used.
rule compare:
    input:
        metrics=f"{RESULTS}/metrics.csv",
    output:
        table=f"{REPORTS}/tables/comparisons.csv",
        markdown=f"{REPORTS}/tables/comparisons.md",
        html=report(f"{REPORTS}/tables/comparisons.html", caption="../report/comparisons.rst", category="Comparisons"),
    params:
        rwbench=RWBENCH,
        config=CONFIGFILE,
        runs=lambda wildcards, input: str(Path(input.metrics).parent / "runs"),
        cache=lambda wildcards, input: str(Path(input.metrics).parent / "reference"),
        extractor=metrics_settings()["extractor"],
        out=lambda wildcards, output: str(Path(output.table).parent.parent),
    log:
        f"{RESULTS}/logs/compare.log",
    benchmark:
        f"{RESULTS}/benchmarks/compare.tsv",
    threads: 1
    resources:
        runtime=20,
        mem_mb=4000,
    conda:
        CONDA_ENV
    shell:
        "{params.rwbench} compare --config {params.config} --runs-dir {params.runs} --out {params.out} "
        "--reference-cache {params.cache} --extractor {params.extractor} > {log} 2>&1"
