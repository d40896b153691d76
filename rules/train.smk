# Training stage: one job per ablation cell; each job sees only its own cell spec.


rule train_cell:
    input:
        # the training set's base dataset ({train_dataset} may carry "+<resynth set>")
        manifest=train_manifest,
        shards=lambda wildcards: sum(train_shards(wildcards).values(), []),
        # a {type: tuned} head needs its study's best parameters (rules/tune.smk)
        tuned=lambda wildcards: tuned_head_input(wildcards),
    output:
        model="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/model.safetensors",
        config="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/config.yaml",
        log_csv="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/train_log.csv",
        dev_scores="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/dev_scores.parquet",
        energy="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/energy_train.json",
    params:
        spec=cell_spec,
        shards=train_shards,
        energy=ENERGY,
    threads: config["training"].get("threads", 1)
    resources:
        mem_mb=config["training"].get("mem_mb", 4000),
    log:
        "results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/train.log",
    benchmark:
        "benchmarks/train/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/train_cell.py"


rule score_dataset:
    input:
        model="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/model.safetensors",
        manifest="results/manifest/{eval_dataset}.parquet",
        shards=lambda wildcards: feature_shards(
            wildcards.eval_dataset, wildcards.encoder, "none", wildcards.freeze
        ),
    output:
        scores="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/scores/{eval_dataset}.parquet",
        energy="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/scores/{eval_dataset}.energy.json",
    params:
        spec=cell_spec,
        run_dir=lambda wildcards, input: str(Path(input.model).parent),
        energy=ENERGY,
    threads: config["training"].get("threads", 1)
    log:
        "results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/score_{eval_dataset}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/score_dataset.py"
