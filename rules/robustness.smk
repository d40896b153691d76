# Robustness stage: every cell scored under every channel condition of
# evaluation.conditions (features of `cond-<name>` are extracted once per dataset x
# encoder x condition by extract_features), the cells x conditions matrix, error
# analysis per cell and eval set, and overlays of listed clips rendered on demand.


rule score_condition:
    input:
        model=f"{RUN}/model.safetensors",
        manifest="results/manifest/{eval_dataset}.parquet",
        clean=f"{RUN}/scores/{{eval_dataset}}.parquet",
        shards=lambda wildcards: feature_shards(
            wildcards.eval_dataset,
            wildcards.encoder,
            scaa_conditions.view_name(wildcards.condition),
            wildcards.freeze,
        ),
    output:
        scores=f"{RUN}/robustness/{{condition}}/scores/{{eval_dataset}}.parquet",
        metrics=f"{RUN}/robustness/{{condition}}/metrics/{{eval_dataset}}.json",
    params:
        spec=cell_spec,
        run_dir=lambda wildcards, input: str(Path(input.model).parent),
        evaluation=lambda wildcards: {
            k: config["evaluation"].get(k, d)
            for k, d in (("n_boot", 1000), ("group_by_speaker", False))
        },
        seed=config["seed"],
    threads: config["training"].get("threads", 1)
    log:
        f"{RUN}/robustness/{{condition}}/score_{{eval_dataset}}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/score_condition.py"


rule error_analysis:
    input:
        dev=f"{RUN}/dev_scores.parquet",
        clean=f"{RUN}/scores/{{eval_dataset}}.parquet",
        conditions=lambda wildcards: list(
            condition_scores(cell_of(wildcards).run_dir, wildcards.eval_dataset).values()
        ),
    output:
        errors=f"{RUN}/errors/{{eval_dataset}}/errors.csv",
        groups=f"{RUN}/errors/{{eval_dataset}}/groups.csv",
    params:
        cell=lambda wildcards: cell_of(wildcards).name,
        run_dir=lambda wildcards: cell_of(wildcards).run_dir,
        conditions=CONDITION_NAMES,
        calibration=config["evaluation"].get("calibration", "platt"),
        top_k=(config["evaluation"].get("errors") or {}).get("top_k", 10),
    log:
        f"{RUN}/errors/{{eval_dataset}}/errors.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/error_analysis.py"


rule robustness_table:
    input:
        clean=all_metrics(),
        conditions=all_condition_metrics(),
    output:
        report("results/ablations/robustness.csv", caption="../workflow/report/robustness_csv.rst", category="Robustness"),
    params:
        cells=[c.as_dict() for c in CELLS],
        eval_datasets=config["eval_datasets"],
        conditions=CONDITION_NAMES,
    log:
        "logs/robustness.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/robustness_table.py"


# on demand: snakemake --cores 1 results/overlays/<cell path>/<eval set>/<condition>/<utt_id>.html
# (summary.html and errors.csv name the path of every listed clip)
rule overlay_clip:
    input:
        model=f"{RUN}/model.safetensors",
        dev=f"{RUN}/dev_scores.parquet",
        manifest="results/manifest/{eval_dataset}.parquet",
    output:
        html=f"results/overlays/{RUN_PATH}/{{eval_dataset}}/{{condition}}/{{utt_id}}.html",
        png=f"results/overlays/{RUN_PATH}/{{eval_dataset}}/{{condition}}/{{utt_id}}.png",
        json=f"results/overlays/{RUN_PATH}/{{eval_dataset}}/{{condition}}/{{utt_id}}.json",
    params:
        run_dir=lambda wildcards: cell_of(wildcards).run_dir,
        condition=lambda wildcards: CONDITIONS_CFG.get(wildcards.condition),
        seed=config["seed"],
    log:
        f"logs/overlays/{RUN_PATH}/{{eval_dataset}}/{{condition}}/{{utt_id}}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/overlay_clip.py"
