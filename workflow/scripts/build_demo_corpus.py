"""Build the embedded demo corpus next to the rule's .complete flag."""
from pathlib import Path

from scaa.wf import setup

log = setup(snakemake, "demo_corpus")  # noqa: F821
from scaa import demo_corpus  # noqa: E402

root = Path(snakemake.output[0]).parent  # noqa: F821
counts = demo_corpus.build(root, seed=snakemake.params.seed, workers=snakemake.threads)  # noqa: F821
log.info("demo corpus at %s: %s", root, counts)
