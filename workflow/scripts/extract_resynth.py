"""One feature shard of vocoded training spoofs (scaa.resynth): generate in memory, encode."""
import json

from scaa.wf import setup

log = setup(snakemake, "resynth")  # noqa: F821
from scaa import resynth  # noqa: E402

p = snakemake.params  # noqa: F821
w = snakemake.wildcards  # noqa: F821
stats = resynth.extract_run(snakemake.input.manifest, snakemake.output.feats, snakemake.output.skips,  # noqa: F821
                            p.encoder, w.generator, p.generator, w.freeze, w.scatteritem, p.seed,
                            audio_cfg=p.audio, threads=snakemake.threads)  # noqa: F821
log.info("shard done: %s", json.dumps(stats))
