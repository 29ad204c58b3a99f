# Stage 5: auxiliary tables (schedules, template-vs-native equivalence), one rule per figure, scale-space diagnostics.


def schedules_table_options():
    """`rwbench schedules` options from the `schedules_table:` section."""
    t = config.get("schedules_table") or {}
    opts = [f"--schedules {','.join(t.get('schedules', ['pretrained', 'sigmoid', 'linear', 'geometric', 'karras']))}"]
    for key in ("steps", "sigma_min", "sigma_max", "c", "T0", "TK"):
        if key in t:
            opts.append(f"--{key.replace('_', '-')} {t[key]}")
    return " ".join(opts)


rule schedules_table:
    output:
        table=f"{RESULTS}/tables/schedules.csv",
    params:
        options=schedules_table_options(),
    log:
        f"{RESULTS}/logs/schedules_table.log",
    localrule: True
    shell:
        "rwbench schedules {params.options} --out {output.table} > {log} 2>&1"


def equivalence_options():
    """`rwbench equivalence` options from the `equivalence:` section."""
    e = config.get("equivalence") or {}
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in e.items())


rule equivalence_table:
    output:
        table=f"{RESULTS}/tables/equivalence.csv",
    params:
        options=equivalence_options(),
    log:
        f"{RESULTS}/logs/equivalence_table.log",
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    shell:
        "rwbench equivalence {params.options} --out {output.table} > {log} 2>&1"


def figure_inputs(wildcards):
    """A figure reads the aggregated metrics, the sample shards of its runs and its auxiliary table."""
    inputs = {"metrics": f"{RESULTS}/metrics.csv"}
    if wildcards.figure in ("schedules", "equivalence"):
        inputs["table"] = f"{RESULTS}/tables/{wildcards.figure}.csv"
    inputs["shards"] = [f"{run_dir(r)}/shards/shard-{s}.pt" for r, spec in RUNS.items()
                        if spec["figure"] == wildcards.figure for s in shard_names(r)]
    return inputs


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
        out=REPORTS,
    log:
        f"{RESULTS}/logs/figure-{{figure}}.log",
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    shell:
        "rwbench figures --only {wildcards.figure} --metrics {input.metrics} --runs-dir {params.runs} "
        "--tables-dir {params.tables} --out {params.out} > {log} 2>&1"


rule scalespace:
    input:
        spec=f"{RESULTS}/runs/{{run_id}}/spec.json",
        trajectories=lambda wildcards: [f"{run_dir(wildcards.run_id)}/trajectories/shard-{s}.pt"
                                        for s in shard_names(wildcards.run_id)],
        reference=lambda wildcards: reference_input(reference_name(RUNS[wildcards.run_id]) or "dataset"),
    output:
        table=f"{RESULTS}/runs/{{run_id}}/scalespace.csv",
        monotonicity=f"{RESULTS}/runs/{{run_id}}/scalespace-monotonicity.csv",
    params:
        run=lambda wildcards: run_dir(wildcards.run_id),
        options=" ".join(f"--{k.replace('_', '-')} {v}" for k, v in (config.get("scalespace") or {}).items()),
    log:
        f"{RESULTS}/logs/scalespace/{{run_id}}.log",
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    shell:
        "rwbench scalespace --run '{params.run}' {params.options} > '{log}' 2>&1"


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
        runs=f"{RESULTS}/runs",
        out=REPORTS,
    log:
        f"{RESULTS}/logs/scalespace_figure.log",
    threads: 1
    shell:
        "rwbench scalespace --figure --runs-dir {params.runs} --out {params.out} > {log} 2>&1"
