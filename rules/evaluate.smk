# Evaluation stage: calibration and threshold from dev only, then every metric on eval
# with bootstrap CIs.


rule evaluate_cell:
    input:
        dev=RUN + "/dev_scores.parquet",
        test=RUN + "/scores/{eval_dataset}.parquet",
    output:
        RUN + "/metrics/{eval_dataset}.json",
    params:
        evaluation=config["evaluation"],
        seed=config["seed"],
    log:
        RUN + "/evaluate_{eval_dataset}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/evaluate_cell.py"
