"""A finished study -> best_head.yaml, best parameters, trials table and plots (scaa.workflow.tune)."""
from pathlib import Path

from scaa.workflow.job import setup

log = setup(snakemake, "tune")  # noqa: F821
from scaa.workflow import tune  # noqa: E402

p = snakemake.params  # noqa: F821
paths = tune.workflow_report(snakemake.wildcards.study, p.study, p.loss, p.storage,  # noqa: F821
                             str(Path(snakemake.output.best_head).parent))  # noqa: F821
log.info("wrote %s", {k: str(v) for k, v in paths.items()})
