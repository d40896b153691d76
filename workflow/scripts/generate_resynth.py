"""One shard of vocoded training spoofs as audio files (scaa.workflow.resynth)."""
import json

from scaa.workflow.job import setup

log = setup(snakemake, "resynth")  # noqa: F821
from scaa.workflow import resynth  # noqa: E402

p, out = snakemake.params, snakemake.output  # noqa: F821
stats = resynth.generate_shard(snakemake.input.manifest, out.rows, out.audio, out.skips,  # noqa: F821
                               snakemake.wildcards.generator, p.generator, snakemake.wildcards.scatteritem,  # noqa: F821
                               p.seed, audio_cfg=p.audio)
log.info("shard done: %s", json.dumps(stats))
