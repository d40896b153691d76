"""All cells -> results/ablations/summary.{csv,html}."""
from functools import partial

from scaa.wf import setup

log = setup(snakemake, "summary")  # noqa: F821
from scaa.grid import view_names  # noqa: E402
from scaa.report.summary import build  # noqa: E402

p, i = snakemake.params, snakemake.input  # noqa: F821
table = build(p.cells, p.skipped, p.eval_datasets, list(i.rejects), list(i.skips), p.evaluation, p.seed,
              snakemake.output.csv, snakemake.output.html, benchmark_csv=p.benchmark_csv,  # noqa: F821
              robustness_csv=i.robustness, errors=list(i.errors), energy=list(i.energy),
              view_names=partial(view_names, snakemake.config))  # noqa: F821
log.info("summary of %d rows", len(table))
