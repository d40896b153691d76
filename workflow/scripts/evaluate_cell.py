"""Metrics of one (cell, eval dataset): calibration/threshold on dev, metrics + CIs on eval,
and the paired bootstrap against the reference cell when the config names one."""
from scaa.workflow.job import setup

log = setup(snakemake, "evaluate")  # noqa: F821
from scaa.workflow.evaluate import evaluate_files  # noqa: E402

i, p = snakemake.input, snakemake.params  # noqa: F821
result = evaluate_files(i.dev, i.test, snakemake.output[0], p.evaluation, p.seed, i.get("reference"))  # noqa: F821
log.info("eval EER %.4f", result["metrics"]["eer"]["value"])
