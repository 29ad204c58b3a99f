# Posterior fidelity of the inverse runs (issue 26; rwbench.analysis.posterior_fidelity, docs/posterior-fidelity.md):
# the table of every posterior cell, the score-KSD validated against the energy distance on the exact oracle, the
# calibration claims and their figures, from what evaluate wrote into each run (metrics-per-target.csv,
# coverage-curves.csv; their metrics.csv are inputs of the aggregated table).
rule fidelity:
    input:
        metrics=f"{RESULTS}/metrics.csv",
    output:
        table=f"{REPORTS}/tables/posterior_fidelity.csv",
        validation=f"{REPORTS}/tables/ksd_validation.csv",
        claims=f"{REPORTS}/tables/calibration_claims.csv",
        **plot_files(FIDELITY_FIGURES, f"{REPORTS}/figures"),    # the files rwbench.plan.figures declares
    params:
        command=lambda wildcards: rwbench_line(fidelity_command()),
    log:
        f"{RESULTS}/logs/fidelity.log",
    benchmark:
        f"{RESULTS}/benchmarks/fidelity.tsv"
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        CONDA_ENV
    shell:
        LOGGED
