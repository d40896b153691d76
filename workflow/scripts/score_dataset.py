"""Score one evaluation dataset's eval split with a trained cell."""
from scaa.wf import setup

log = setup(snakemake, "score")  # noqa: F821
from scaa.train import score_dataset  # noqa: E402

n = score_dataset(snakemake.params.spec, snakemake.params.run_dir, snakemake.input.manifest,  # noqa: F821
                  snakemake.input.shards, snakemake.output[0], threads=snakemake.threads)  # noqa: F821
log.info("scored %d clips", n)
