# Evaluation stage: calibration and threshold from dev only, then every metric on eval
# with bootstrap CIs.


rule evaluate_cell:
    input:
        dev="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/dev_scores.parquet",
        test="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/scores/{eval_dataset}.parquet",
    output:
        "results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/metrics/{eval_dataset}.json",
    params:
        evaluation=evaluation_params(),
        seed=config["seed"],
    log:
        "results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/evaluate_{eval_dataset}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/evaluate_cell.py"
