# Features stage: each (dataset, encoder, view, freeze) is split into N shards that fan
# out across --cores. A frozen encoder runs once per clip and view, never per cell.


rule extract_features:
    input:
        manifest="results/manifest/{dataset}.parquet",
    output:
        feats="results/features/{dataset}/{encoder}/{view}/{freeze}/shard{scatteritem}.npz",
        skips="results/features/{dataset}/{encoder}/{view}/{freeze}/shard{scatteritem}.skips.csv",
        energy="results/features/{dataset}/{encoder}/{view}/{freeze}/shard{scatteritem}.energy.json",
    params:
        encoder=lambda wildcards: config["encoders"][wildcards.encoder],
        view=lambda wildcards: feature_view_spec(wildcards.view),
        # augmented views are only ever used for training: extract them on train clips only;
        # a channel condition (view cond-<name>) on eval clips only
        splits=lambda wildcards: feature_splits(wildcards.view),
        seed=config["seed"],
        audio=config["audio"],
        energy=ENERGY,
    threads: config["features"]["threads"]
    resources:
        mem_mb=config["features"].get("mem_mb", 4000),
    log:
        "logs/features/{dataset}/{encoder}/{view}/{freeze}/shard{scatteritem}.log",
    benchmark:
        "benchmarks/features/{dataset}/{encoder}/{view}/{freeze}/shard{scatteritem}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/extract_features.py"
