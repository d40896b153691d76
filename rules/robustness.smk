# Robustness stage: every cell scored under every channel condition of
# evaluation.conditions (features of `cond-<name>` are extracted once per dataset x
# encoder x condition by extract_features) and its error analysis, in one job per cell
# and eval set (the head is loaded once; a job's start-up costs more than scoring a
# condition); the cells x conditions matrix; overlays of listed clips on demand.


rule robustness_cell:
    input:
        model=f"{RUN}/model.safetensors",
        manifest="results/manifest/{eval_dataset}.parquet",
        dev=f"{RUN}/dev_scores.parquet",
        clean=f"{RUN}/scores/{{eval_dataset}}.parquet",
        shards=lambda wildcards: sum(condition_shards(wildcards).values(), []),
    output:
        # one entry per condition, in CONDITION_NAMES order (empty without conditions)
        scores=[f"{RUN}/robustness/{c}/scores/{{eval_dataset}}.parquet" for c in CONDITION_NAMES],
        metrics=[f"{RUN}/robustness/{c}/metrics/{{eval_dataset}}.json" for c in CONDITION_NAMES],
        errors=f"{RUN}/errors/{{eval_dataset}}/errors.csv",
        groups=f"{RUN}/errors/{{eval_dataset}}/groups.csv",
    params:
        spec=cell_spec,
        cell=lambda wildcards: cell_of(wildcards).name,
        run_dir=lambda wildcards: cell_of(wildcards).run_dir,
        conditions=CONDITION_NAMES,
        shards=condition_shards,
        evaluation=lambda wildcards: {
            k: config["evaluation"].get(k, d)
            for k, d in (("n_boot", 1000), ("group_by_speaker", False))
        },
        calibration=config["evaluation"].get("calibration", "platt"),
        top_k=(config["evaluation"].get("errors") or {}).get("top_k", 10),
        seed=config["seed"],
    threads: config["training"].get("threads", 1)
    log:
        f"{RUN}/robustness_{{eval_dataset}}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/robustness_cell.py"


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
