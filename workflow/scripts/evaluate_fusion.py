"""Metrics of one (fusion cell, eval dataset), evaluated like any cell (scaa.workflow.evaluate)."""
from scaa.workflow.job import setup

log = setup(snakemake, "fusion")  # noqa: F821
from scaa.workflow.evaluate import evaluate_files  # noqa: E402

i, p = snakemake.input, snakemake.params  # noqa: F821
result = evaluate_files(i.dev, i.test, snakemake.output[0], p.evaluation, p.seed, i.get("reference"))  # noqa: F821
log.info("fused eval EER %.4f", result["metrics"]["eer"]["value"])
