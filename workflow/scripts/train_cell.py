"""Train one ablation cell and score its dev split."""
import json
from pathlib import Path

from scaa.workflow.job import setup

log = setup(snakemake, "train")  # noqa: F821
from scaa.workflow import energy  # noqa: E402
from scaa.workflow.train import train_cell  # noqa: E402

with energy.track(snakemake.output.energy, task="train_cell", **snakemake.params.energy) as rec:  # noqa: F821
    info = train_cell(snakemake.params.spec, snakemake.input.manifest, snakemake.params.shards,  # noqa: F821
                      Path(snakemake.output.model).parent, threads=snakemake.threads,  # noqa: F821
                      plugins=snakemake.config.get("plugins"))  # noqa: F821
    rec["clips"] = info["train_clips"]
log.info("trained: %s", json.dumps(info))
