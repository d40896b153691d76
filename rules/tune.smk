# Tuning stage: Optuna studies for the mlp head on cached features (dev EER objective).
# config: tune: {storage: URL or null, studies: {NAME: {dataset, encoder, view, loss,
#   n_trials, workers, seed, space, fixed, timeout_s}}}. `workers` > 1 runs that many
# jobs against one shared storage (use PostgreSQL for that; see docs/cluster.md).

rule tune_worker:
    input:
        manifest=lambda wildcards: f"results/manifest/{TUNE_STUDIES[wildcards.study]['dataset']}.parquet",
        shards=lambda wildcards: sum(tune_shards(wildcards).values(), []),
    output:
        touch("results/tune/{study}/worker{worker}.done"),
    params:
        study=lambda wildcards: TUNE_STUDIES[wildcards.study],
        loss=lambda wildcards: tune_loss(wildcards.study),
        views=lambda wildcards: tune_views(wildcards.study),
        shards=tune_shards,
        storage=lambda wildcards: tune_storage(wildcards.study),
    threads: 1
    resources:
        mem_mb=TUNE.get("mem_mb", 4000),
    log:
        "logs/tune/{study}/worker{worker}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/tune_worker.py"


rule tune_study:
    input:
        lambda wildcards: expand(
            "results/tune/{study}/worker{k}.done",
            study=wildcards.study,
            k=range(int(TUNE_STUDIES[wildcards.study].get("workers", 1))),
        ),
    output:
        best_head="results/tune/{study}/best_head.yaml",
        best_params="results/tune/{study}/best_params.json",
        trials="results/tune/{study}/trials.csv",
        history=report("results/tune/{study}/history.html", caption="../workflow/report/tune_history.rst", category="Tuning"),
        importance=report("results/tune/{study}/importance.html", caption="../workflow/report/tune_importance.rst", category="Tuning"),
    params:
        study=lambda wildcards: TUNE_STUDIES[wildcards.study],
        loss=lambda wildcards: tune_loss(wildcards.study),
        storage=lambda wildcards: tune_storage(wildcards.study),
    log:
        "logs/tune/{study}/report.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/tune_study.py"


rule tune_all:
    input:
        expand("results/tune/{study}/best_head.yaml", study=sorted(TUNE_STUDIES)),
