"""One feature shard: decode, view, encode; skipped clips go to the .skips.csv."""
import json

from scaa.workflow.job import setup

log = setup(snakemake, "features")  # noqa: F821
from scaa.workflow import energy, extract  # noqa: E402

p = snakemake.params  # noqa: F821
w = snakemake.wildcards  # noqa: F821
with energy.track(snakemake.output.energy, task="extract_features", **p.energy) as rec:  # noqa: F821
    stats = extract.run(snakemake.input.manifest, snakemake.output.feats, snakemake.output.skips,  # noqa: F821
                        p.encoder, w.view, p.view, w.freeze, w.scatteritem, p.seed, audio_cfg=p.audio,
                        threads=snakemake.threads, splits=p.splits)  # noqa: F821
    rec["clips"] = stats["encoded"]
log.info("shard done: %s", json.dumps(stats))
