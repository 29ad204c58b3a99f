# Stage 1: embedded data and Gaussian-mixture oracles; stage 2: train the embedded networks and the digits classifier.


rule prepare:
    output:
        meta=f"{RESULTS}/embedded/oracle/prepare.json",
        digits_oracle=f"{RESULTS}/embedded/oracle/digits-gmm.safetensors",
        faces_oracle=f"{RESULTS}/embedded/oracle/faces-gmm.safetensors",
        digits_reference=f"{RESULTS}/embedded/oracle/digits-oracle-reference.safetensors",
        faces_reference=f"{RESULTS}/embedded/oracle/faces-oracle-reference.safetensors",
    params:
        rwbench=RWBENCH,
        embedded=embedded_digest(),
        embedded_config=EMBEDDED_CONFIG,
        out=lambda wildcards, output: str(Path(output.meta).parent),
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
        "{params.rwbench} prepare --config {params.embedded_config} --out {params.out} > {log} 2>&1"


rule train:
    output:
        model=f"{RESULTS}/embedded/{{kind}}/model.safetensors",
        meta=f"{RESULTS}/embedded/{{kind}}/config.json",
    params:
        rwbench=RWBENCH,
        embedded=embedded_digest(),
        embedded_config=EMBEDDED_CONFIG,
        out=lambda wildcards, output: str(Path(output.model).parent),
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
        "{params.rwbench} train --config {params.embedded_config} --model {wildcards.kind} --out {params.out} > {log} 2>&1"
