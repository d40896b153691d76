"""Score one cell on one eval dataset under one channel condition; EER and ΔEER vs clean."""
from scaa.workflow_job import setup

log = setup(snakemake, "robustness")  # noqa: F821
from scaa.robustness import run_job  # noqa: E402

p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
res = run_job(p.spec, p.run_dir, i.manifest, list(i.shards), i.clean, snakemake.wildcards.condition,  # noqa: F821
              o.scores, o.metrics, p.evaluation, p.seed, threads=snakemake.threads)  # noqa: F821
log.info("%s: %s %s", res["condition"], res["status"], res.get("eer") or res.get("reason"))
