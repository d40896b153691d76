# SCAA workflow: manifest -> features (sharded) -> train each ablation cell -> scores
# -> metrics -> summary. Logic lives in the scaa package; rules only wire files.
import os
import sys

from snakemake.utils import min_version

min_version("8.0")

# Jobs import this checkout's scaa package, whichever checkout an installed (editable)
# scaa points at: first on sys.path here, and on PYTHONPATH for script and shell jobs.
if sys.path[:1] != [workflow.basedir]:
    sys.path.insert(0, workflow.basedir)
if os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] != workflow.basedir:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [workflow.basedir] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    )


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
