# Training stage: one job per ablation cell; each job sees only its own cell spec.


rule train_cell:
    input:
        # the training dataset's manifest ({train_dataset} may carry "+<resynth set>"),
        # or every member corpus' manifest for a training set
        manifest=train_manifest,
        shards=train_shard_files,
        # a {type: tuned} head needs its study's best parameters (rules/tune.smk)
        tuned=lambda wildcards: tuned_head_input(wildcards),
    output:
        model=f"{RUN}/model.safetensors",
        config=f"{RUN}/config.yaml",
        log_csv=f"{RUN}/train_log.csv",
        dev_scores=f"{RUN}/dev_scores.parquet",
        energy=f"{RUN}/energy_train.json",
    params:
        spec=cell_spec,
        shards=train_shards,
        energy=ENERGY,
    threads: config["training"].get("threads", 1)
    resources:
        mem_mb=config["training"].get("mem_mb", 4000),
    log:
        f"{RUN}/train.log",
    benchmark:
        f"benchmarks/train/{RUN_PATH}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/train_cell.py"

