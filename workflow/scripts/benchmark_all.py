"""Every cell's cost figures -> results/benchmark/summary.csv."""
from scaa.workflow.job import setup

log = setup(snakemake, "benchmark")  # noqa: F821
from scaa.workflow import benchmark  # noqa: E402

table = benchmark.summarize(list(snakemake.input), snakemake.output[0])  # noqa: F821
log.info("benchmark summary of %d cells", len(table))
