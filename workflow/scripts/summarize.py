"""All cells -> results/ablations/summary.{csv,html}."""
from scaa.wf import setup

log = setup(snakemake, "summary")  # noqa: F821
from scaa.report.summary import build  # noqa: E402

p = snakemake.params  # noqa: F821
table = build(p.cells, p.skipped, p.eval_datasets, list(snakemake.input.rejects),  # noqa: F821
              list(snakemake.input.skips), p.evaluation, p.seed,  # noqa: F821
              snakemake.output.csv, snakemake.output.html, benchmark_csv=p.benchmark_csv,  # noqa: F821
              seed_groups=p.seed_groups)
log.info("summary of %d rows", len(table))
