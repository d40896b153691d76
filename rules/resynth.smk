# Vocoded training spoofs: each generator resynthesises the bona fide train clips of a
# dataset in memory and encodes them (shards like the features stage); nothing else.


rule extract_resynth:
    input:
        manifest="results/manifest/{dataset}.parquet",
    output:
        feats=RESYNTH_SHARD,
        skips=RESYNTH_SHARD.replace(".npz", ".skips.csv"),
    params:
        encoder=lambda wildcards: config["encoders"][wildcards.encoder],
        generator=lambda wildcards: config["resynthesizers"][wildcards.generator],
        seed=config["seed"],
        audio=config["audio"],
    threads: config["features"]["threads"]
    resources:
        mem_mb=config["features"].get("mem_mb", 4000),
    log:
        "logs/resynth/{dataset}/{encoder}/{generator}/{freeze}/shard{scatteritem}.log",
    benchmark:
        "benchmarks/resynth/{dataset}/{encoder}/{generator}/{freeze}/shard{scatteritem}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/extract_resynth.py"
