# Data stage: build the embedded demo corpus, then one manifest per dataset.


rule demo_corpus:
    output:
        touch("{root}/.complete"),
    params:
        seed=config.get("demo_corpus", {}).get("seed", 2026),
    threads: config.get("demo_corpus", {}).get("workers", 2)
    log:
        "logs/demo_corpus/{root}.log",
    conda:
        "../environment.yml"
    # a shell call, not script:, because the builder runs a process pool of its own
    shell:
        "python -m scaa.demo_corpus {wildcards.root} --seed {params.seed} --workers {threads} > {log} 2>&1"


# a checkpoint: with features.shard_size, the number of feature shards per dataset is
# read from this manifest, so the plan below it is completed once the manifest exists
checkpoint manifest:
    input:
        dataset_ready_flag,
    output:
        manifest="results/manifest/{dataset}.parquet",
        rejects="results/manifest/{dataset}.rejects.csv",
    params:
        spec=lambda wildcards: config["datasets"][wildcards.dataset],
        max_seconds=config["audio"].get("max_seconds"),
        min_seconds=config["audio"].get("min_seconds", 0.25),
    log:
        "logs/manifest/{dataset}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/make_manifest.py"
