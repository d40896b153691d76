# Evaluation stage: each trained cell scores every evaluation dataset's eval split, then
# calibration and threshold come from dev only, every metric on eval gets a bootstrap CI,
# and (with evaluation.reference) the paired bootstrap against the reference cell.


rule score_dataset:
    input:
        model=f"{RUN}/model.safetensors",
        manifest="results/manifest/{eval_dataset}.parquet",
        shards=lambda wildcards: feature_shards(
            wildcards.eval_dataset, wildcards.encoder, "none", wildcards.freeze
        ),
    output:
        scores=f"{RUN}/scores/{{eval_dataset}}.parquet",
        energy=f"{RUN}/scores/{{eval_dataset}}.energy.json",
    params:
        spec=cell_spec,
        run_dir=lambda wildcards, input: str(Path(input.model).parent),
        energy=ENERGY,
    threads: config["training"].get("threads", 1)
    log:
        f"{RUN}/score_{{eval_dataset}}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/score_dataset.py"


rule evaluate_cell:
    input:
        # evaluation.reference's scores of this eval set (none without one)
        unpack(reference_scores),
        dev=f"{RUN}/dev_scores.parquet",
        test=f"{RUN}/scores/{{eval_dataset}}.parquet",
    output:
        f"{RUN}/metrics/{{eval_dataset}}.json",
    params:
        evaluation=evaluation_params(),
        seed=config["seed"],
    log:
        f"{RUN}/evaluate_{{eval_dataset}}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/evaluate_cell.py"
