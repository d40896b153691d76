"""Render the overlay of one clip listed in an errors.csv (on demand)."""
from scaa.workflow.job import setup

log = setup(snakemake, "overlay")  # noqa: F821
from scaa.workflow.error_analysis import render_overlay  # noqa: E402

p, w = snakemake.params, snakemake.wildcards  # noqa: F821
res = render_overlay(p.run_dir, snakemake.input.manifest, w.utt_id, w.condition, p.condition, p.seed,  # noqa: F821
                     snakemake.output.html, allow_plugins=snakemake.config.get("plugins") or [])  # noqa: F821
log.info("overlay %s: %s", res["html"], res["verdict"])
