# SCAA workflow: manifest -> features (sharded) -> train each ablation cell -> scores
# -> metrics -> summary. Logic lives in the scaa package; rules only wire files.
from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/benchmark.smk"
include: "rules/tune.smk"
include: "rules/resynth.smk"
include: "rules/fusion.smk"
include: "rules/robustness.smk"


rule all:
    input:
        "results/ablations/summary.csv",
        "results/ablations/summary.html",
        "results/ablations/robustness.csv",
    default_target: True
