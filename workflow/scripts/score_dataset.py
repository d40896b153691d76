"""Score one evaluation dataset's eval split with a trained cell."""
from scaa.workflow.job import setup

log = setup(snakemake, "score")  # noqa: F821
from scaa.workflow import energy  # noqa: E402
from scaa.workflow.scoring import score_dataset  # noqa: E402

with energy.track(snakemake.output.energy, task="score_dataset", **snakemake.params.energy) as rec:  # noqa: F821
    n = score_dataset(snakemake.params.spec, snakemake.params.run_dir, snakemake.input.manifest,  # noqa: F821
                      snakemake.input.shards, snakemake.output.scores, threads=snakemake.threads)  # noqa: F821
    rec["clips"] = n
log.info("scored %d clips", n)
