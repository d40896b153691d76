"""tune_worker: add trials to a (shared) Optuna study; tune_study: write best head + plots."""
from pathlib import Path

from scaa.workflow_job import setup

log = setup(snakemake, "tune")  # noqa: F821
from scaa import tune  # noqa: E402

p = snakemake.params  # noqa: F821
name = snakemake.wildcards.study  # noqa: F821
if snakemake.rule == "tune_worker":  # noqa: F821
    study = tune.workflow_worker(name, p.study, p.loss, p.views, snakemake.input.manifest, p.shards,  # noqa: F821
                                 p.storage, int(snakemake.wildcards.worker), threads=snakemake.threads)  # noqa: F821
    done = [t.value for t in study.trials if t.value is not None]
    log.info("study %s: %d trials, best dev EER %s", study.study_name, len(study.trials), min(done, default=None))
else:
    paths = tune.workflow_report(name, p.study, p.loss, p.storage, str(Path(snakemake.output.best_head).parent))  # noqa: F821
    log.info("wrote %s", {k: str(v) for k, v in paths.items()})
