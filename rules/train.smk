# Training stage: one job per ablation cell; each job sees only its own cell spec.


rule train_cell:
    input:
        manifest="results/manifest/{train_dataset}.parquet",
        shards=lambda wildcards: sum(train_shards(wildcards).values(), []),
    output:
        model=RUN + "/model.safetensors",
        config=RUN + "/config.yaml",
        log_csv=RUN + "/train_log.csv",
        dev_scores=RUN + "/dev_scores.parquet",
    params:
        spec=cell_spec,
        shards=train_shards,
    threads: config["training"].get("threads", 1)
    resources:
        mem_mb=config["training"].get("mem_mb", 4000),
    log:
        RUN + "/train.log",
    benchmark:
        "benchmarks/train/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/train_cell.py"


rule score_dataset:
    input:
        model=RUN + "/model.safetensors",
        manifest="results/manifest/{eval_dataset}.parquet",
        shards=lambda wildcards: feature_shards(
            wildcards.eval_dataset, wildcards.encoder, "none", wildcards.freeze
        ),
    output:
        RUN + "/scores/{eval_dataset}.parquet",
    params:
        spec=cell_spec,
        run_dir=lambda wildcards, input: str(Path(input.model).parent),
    threads: config["training"].get("threads", 1)
    log:
        RUN + "/score_{eval_dataset}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/score_dataset.py"
