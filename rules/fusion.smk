# Score fusion: a dev-fitted logistic regression over member cells' scores, then scored
# and evaluated (calibration, bootstrap) like any cell.


rule fuse_dev:
    input:
        dev=lambda wildcards: fusion_member_files(wildcards, "dev_scores.parquet"),
    output:
        fusion=f"{FUSION_DIR}/fusion.json",
        dev=f"{FUSION_DIR}/dev_scores.parquet",
    params:
        spec=lambda wildcards: fusion_of(wildcards).spec(config),
    log:
        f"{FUSION_DIR}/fuse.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/fuse_dev.py"


rule fuse_scores:
    input:
        fusion=f"{FUSION_DIR}/fusion.json",
        members=lambda wildcards: fusion_member_files(
            wildcards, f"scores/{wildcards.eval_dataset}.parquet"
        ),
    output:
        f"{FUSION_DIR}/scores/{{eval_dataset}}.parquet",
    log:
        f"{FUSION_DIR}/score_{{eval_dataset}}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/fuse_scores.py"


rule evaluate_fusion:
    input:
        unpack(reference_scores),
        dev=f"{FUSION_DIR}/dev_scores.parquet",
        test=f"{FUSION_DIR}/scores/{{eval_dataset}}.parquet",
    output:
        f"{FUSION_DIR}/metrics/{{eval_dataset}}.json",
    params:
        evaluation=evaluation_params(),
        seed=config["seed"],
    log:
        f"{FUSION_DIR}/evaluate_{{eval_dataset}}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/evaluate_fusion.py"
