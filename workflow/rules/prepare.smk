# Stage 1: embedded data and Gaussian-mixture oracles; stage 2: train the embedded networks and the digits classifier.


rule prepare:
    output:
        meta=f"{RESULTS}/embedded/oracle/prepare.json",
        digits_oracle=f"{RESULTS}/embedded/oracle/digits-gmm.safetensors",
        faces_oracle=f"{RESULTS}/embedded/oracle/faces-gmm.safetensors",
        digits_reference=f"{RESULTS}/embedded/oracle/digits-oracle-reference.safetensors",
        faces_reference=f"{RESULTS}/embedded/oracle/faces-oracle-reference.safetensors",
    params:
        embedded=embedded_digest(),
        command=lambda wildcards: rwbench_line(prepare_command()),
    log:
        f"{RESULTS}/logs/prepare.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare.tsv",
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        CONDA_ENV
    shell:
        LOGGED


rule train:
    output:
        model=f"{RESULTS}/embedded/{{kind}}/model.safetensors",
        meta=f"{RESULTS}/embedded/{{kind}}/config.json",
    params:
        embedded=embedded_digest(),
        command=lambda wildcards: rwbench_line(train_command(wildcards.kind)),
    log:
        f"{RESULTS}/logs/train-{{kind}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train-{{kind}}.tsv",
    threads: 1
    resources:
        runtime=60,
        mem_mb=3000,
    conda:
        CONDA_ENV
    shell:
        LOGGED
