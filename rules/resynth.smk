# Vocoded training spoofs: each generator resynthesises a dataset's bona fide train clips
# once (FLAC files, sharded); every encoder then encodes those files like any clips.


rule generate_resynth:
    input:
        manifest="results/manifest/{dataset}.parquet",
    output:
        rows=f"{RESYNTH_AUDIO}.parquet",
        skips=f"{RESYNTH_AUDIO}.skips.csv",
        audio=directory(RESYNTH_AUDIO),
    params:
        generator=lambda wildcards: config["resynthesizers"][wildcards.generator],
        seed=config["seed"],
        audio=config["audio"],
    threads: 1
    log:
        "logs/resynth_audio/{dataset}/{generator}/shard{scatteritem}.log",
    benchmark:
        "benchmarks/resynth_audio/{dataset}/{generator}/shard{scatteritem}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/generate_resynth.py"


rule extract_resynth:
    input:
        rows=resynth_audio_rows,
    output:
        feats=RESYNTH_SHARD,
        skips=RESYNTH_SHARD.replace(".npz", ".skips.csv"),
    params:
        encoder=lambda wildcards: config["encoders"][wildcards.encoder],
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
