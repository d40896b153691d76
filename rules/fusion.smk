# Score fusion: a dev-fitted logistic regression over member cells' scores, then scored
# and evaluated (calibration, bootstrap) like any cell.


rule fuse_dev:
    input:
        dev=lambda wildcards: fusion_member_files(wildcards, "dev_scores.parquet"),
    output:
        fusion="results/fusions/{fusion}/seed{seed}/fusion.json",
        dev="results/fusions/{fusion}/seed{seed}/dev_scores.parquet",
    params:
        spec=lambda wildcards: fusion_of(wildcards).spec(config),
    log:
        "results/fusions/{fusion}/seed{seed}/fuse.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/fuse_cell.py"


rule fuse_scores:
    input:
        fusion="results/fusions/{fusion}/seed{seed}/fusion.json",
        members=lambda wildcards: fusion_member_files(
            wildcards, f"scores/{wildcards.eval_dataset}.parquet"
        ),
    output:
        "results/fusions/{fusion}/seed{seed}/scores/{eval_dataset}.parquet",
    log:
        "results/fusions/{fusion}/seed{seed}/score_{eval_dataset}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/fuse_scores.py"


rule evaluate_fusion:
    input:
        dev="results/fusions/{fusion}/seed{seed}/dev_scores.parquet",
        test="results/fusions/{fusion}/seed{seed}/scores/{eval_dataset}.parquet",
    output:
        "results/fusions/{fusion}/seed{seed}/metrics/{eval_dataset}.json",
    params:
        evaluation=config["evaluation"],
        seed=config["seed"],
    log:
        "results/fusions/{fusion}/seed{seed}/evaluate_{eval_dataset}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/evaluate_cell.py"
