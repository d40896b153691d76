"""Add trials to a (possibly shared) Optuna study of one tuning worker (scaa.workflow.tune)."""
from scaa.workflow.job import setup

log = setup(snakemake, "tune")  # noqa: F821
from scaa.workflow import tune  # noqa: E402

p, w = snakemake.params, snakemake.wildcards  # noqa: F821
study = tune.workflow_worker(w.study, p.study, p.loss, p.views, snakemake.input.manifest, p.shards,  # noqa: F821
                             p.storage, int(w.worker), threads=snakemake.threads)  # noqa: F821
done = [t.value for t in study.trials if t.value is not None]
log.info("study %s: %d trials, best dev EER %s", study.study_name, len(study.trials), min(done, default=None))
