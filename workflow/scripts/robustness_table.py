"""Every cell x eval dataset x condition -> results/ablations/robustness.csv."""
from scaa.workflow.job import setup

log = setup(snakemake, "robustness")  # noqa: F821
from scaa.report.robustness_table import collect  # noqa: E402

p = snakemake.params  # noqa: F821
table = collect(p.cells, p.eval_datasets, p.conditions, snakemake.output[0])  # noqa: F821
log.info("robustness matrix: %d rows, %d skipped", len(table), int((table["status"] != "ok").sum()))
