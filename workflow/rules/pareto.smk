# The Pareto front on the exact oracle (issue 23; rwbench.analysis.pareto, rwbench.figures.pareto): energy distance and
# variance ratio against NFE of the experiments the config's `pareto:` names, beside the exact-draw band of
# results/floors.csv: reports/tables/oracle_pareto.csv and the figures pareto (with its table) and pareto-samples,
# each with its caption (the figure table's PARETO row). The sample grids read the shards of the runs they show.
if config.get("pareto"):

    rule pareto:
        input:
            unpack(pareto_inputs),
        output:
            table=f"{REPORTS}/tables/oracle_pareto.csv",
            markdown=f"{REPORTS}/tables/oracle_pareto.md",
            **figure_outputs("pareto", pareto_specs()),
        params:
            command=lambda wildcards: rwbench_line(pareto_command()),
        log:
            f"{RESULTS}/logs/pareto.log",
        benchmark:
            f"{RESULTS}/benchmarks/pareto.tsv"
        threads: 1
        resources:
            runtime=10,
            mem_mb=2000,
        conda:
            CONDA_ENV
        shell:
            LOGGED
