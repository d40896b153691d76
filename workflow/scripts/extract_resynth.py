"""One feature shard of vocoded training spoofs: encode the generated files (scaa.workflow.resynth)."""
import json

from scaa.workflow.job import setup

log = setup(snakemake, "resynth")  # noqa: F821
from scaa.workflow import resynth  # noqa: E402

p, w = snakemake.params, snakemake.wildcards  # noqa: F821
stats = resynth.extract_run(list(snakemake.input.rows), snakemake.output.feats, snakemake.output.skips,  # noqa: F821
                            p.encoder, w.freeze, w.scatteritem, audio_cfg=p.audio,
                            threads=snakemake.threads)  # noqa: F821
log.info("shard done: %s", json.dumps(stats))
