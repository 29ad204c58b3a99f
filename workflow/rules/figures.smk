# Stage 5: auxiliary tables (schedules, template-vs-native equivalence), the figures job, scale-space diagnostics,
# the comparisons and the runs table.


rule schedules_table:
    output:
        table=f"{RESULTS}/tables/schedules.csv",
    params:
        command=lambda wildcards: rwbench_line(schedules_command()),
    log:
        f"{RESULTS}/logs/schedules_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/schedules_table.tsv",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        LOGGED


rule equivalence_table:
    output:
        table=f"{RESULTS}/tables/equivalence.csv",
    params:
        command=lambda wildcards: rwbench_line(equivalence_command()),
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
        LOGGED


# One job for every figure this config feeds (figure_names()) and the scale-space figure: each figure's plot, its table
# (CSV, Markdown and the HTML page the report shows inline) and, where it has them, its sample grids and metric panels
# (the files of its row in rwbench.plan.figures), each declared with its own caption. One process: the figures share
# one start-up and one read of the metrics.
if figure_names() or trajectory_runs():

    rule figures:
        input:
            unpack(figures_inputs),
        output:
            **figures_outputs(),
        params:
            command=lambda wildcards: rwbench_line(figures_job_command()),
        log:
            f"{RESULTS}/logs/figures.log",
        benchmark:
            f"{RESULTS}/benchmarks/figures.tsv"
        threads: 1
        resources:
            runtime=20,
            mem_mb=2000,
        conda:
            CONDA_ENV
        shell:
            LOGGED


rule scalespace:
    wildcard_constraints:
        run_id=UNPACKED_RUNS,
    input:
        unpack(scalespace_inputs),
    output:
        table=f"{RESULTS}/runs/{{run_id}}/scalespace.csv",
        monotonicity=f"{RESULTS}/runs/{{run_id}}/scalespace-monotonicity.csv",
    params:
        command=lambda wildcards: rwbench_line(scalespace_command(wildcards.run_id)),
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
        LOGGED


# Paired differences with 95 % intervals and decisions for every comparison the figures make (rwbench.analysis.compare,
# docs/statistics.md), then the runs table: one job.
# compare reads each run's features.safetensors / metrics-per-image.csv, which evaluate writes beside the run's
# metrics.csv (inputs of the aggregated table), and the reference statistics evaluate used.
rule compare:
    input:
        metrics=f"{RESULTS}/metrics.csv",
    output:
        table=f"{REPORTS}/tables/comparisons.csv",
        markdown=f"{REPORTS}/tables/comparisons.md",
        html=report(f"{REPORTS}/tables/comparisons.html", caption="../report/comparisons.rst", category="Comparisons"),
        runs=f"{REPORTS}/tables/runs.csv",
        runs_markdown=f"{REPORTS}/tables/runs.md",
        runs_html=report(f"{REPORTS}/tables/runs.html", caption="../report/runs.rst", category="Runs"),
    params:
        command=lambda wildcards: rwbench_line(compare_job_command()),
    log:
        f"{RESULTS}/logs/compare.log",
    benchmark:
        f"{RESULTS}/benchmarks/compare.tsv"
    threads: 1
    resources:
        runtime=20,
        mem_mb=4000,
    conda:
        CONDA_ENV
    shell:
        LOGGED


# The report's front page (reports/summary.html, shown by workflow/report/workflow.rst): the claims ledger
# (reports/claims.csv, an input only when a rule makes it or it exists) with the figures that carry the claims and
# their captions, the diverged runs with their cells, the failed cells, then the raw tables.
rule summary:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        runs=f"{REPORTS}/tables/runs.csv",
        comparisons=f"{REPORTS}/tables/comparisons.csv",
        figures=[f"{REPORTS}/figures/{name}.png" for name in figure_names()],
        pareto=[f"{REPORTS}/figures/pareto.png"] if config.get("pareto") else [],   # the pareto-* claims' figure
        claims=claims_input,
    output:
        summary=f"{REPORTS}/summary.html",
    params:
        command=lambda wildcards: rwbench_line(summary_command()),
    log:
        f"{RESULTS}/logs/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/summary.tsv"
    localrule: True
    conda:
        CONDA_ENV
    shell:
        LOGGED


# The claims ledger: every declared claim (config `claims:`) decided with its procedure, its design beside it.
if config.get("claims"):

    rule claims:
        input:
            metrics=f"{RESULTS}/metrics.csv",
            equivalence=f"{RESULTS}/tables/equivalence.csv" if config.get("equivalence") else [],
            design=config["claims_design"] or [],
            fidelity=f"{REPORTS}/tables/posterior_fidelity.csv" if posterior_runs() else [],
        output:
            table=f"{REPORTS}/claims.csv",
            markdown=f"{REPORTS}/claims.md",
        params:
            command=lambda wildcards: rwbench_line(claims_command()),
        log:
            f"{RESULTS}/logs/claims.log",
        benchmark:
            f"{RESULTS}/benchmarks/claims.tsv"
        threads: 1
        resources:
            runtime=20,
            mem_mb=4000,
        conda:
            CONDA_ENV
        shell:
            LOGGED


# Oracle studies (config `studies:`): each a tool run once on the prepared oracle (rwbench study).
for _study in config.get("studies") or []:

    rule:
        name:
            f"study_{_study.replace('-', '_')}"
        input:
            oracle=f"{RESULTS}/embedded/oracle/prepare.json",
        output:
            [f"{REPORTS}/{out}" for out in STUDY_OUTPUTS[_study]],
        params:
            command=lambda wildcards, s=_study: rwbench_line(study_command(s)),
        log:
            f"{RESULTS}/logs/study-{_study}.log",
        benchmark:
            f"{RESULTS}/benchmarks/study-{_study}.tsv"
        threads: 1
        resources:
            runtime=20,
            mem_mb=3000,
        conda:
            CONDA_ENV
        shell:
            LOGGED
