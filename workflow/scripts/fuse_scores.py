"""Fused scores of one eval dataset from the members' score files (scaa.workflow.fusion)."""
from scaa.workflow.job import setup

log = setup(snakemake, "fusion")  # noqa: F821
from scaa.workflow.fusion import score_cell  # noqa: E402

n = score_cell(snakemake.input.fusion, list(snakemake.input.members), snakemake.output[0])  # noqa: F821
log.info("%d clips scored", n)
