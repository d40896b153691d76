"""Most confident misses / false alarms and per-attack / per-speaker EER of one cell."""
from scaa.workflow_job import setup

log = setup(snakemake, "errors")  # noqa: F821
from scaa.errors import run  # noqa: E402

p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
conds = {c: path for c, path in zip(p.conditions, i.conditions)}
n = run(p.cell, p.run_dir, snakemake.wildcards.eval_dataset, i.dev, i.clean, conds, o.errors, o.groups,  # noqa: F821
        calibration=p.calibration, top_k=p.top_k)
log.info("%d confident errors listed", n)
