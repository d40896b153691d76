"""Fit one fusion cell on its members' dev scores (scaa.workflow.fusion)."""
from pathlib import Path

from scaa.workflow.job import setup

log = setup(snakemake, "fusion")  # noqa: F821
from scaa.workflow.fusion import fit_cell  # noqa: E402

fusion = fit_cell(snakemake.params.spec, list(snakemake.input.dev),  # noqa: F821
                  Path(snakemake.output.fusion).parent)  # noqa: F821
log.info("weights %s bias %.4f; dev EER %s", [m["weight"] for m in fusion["members"]], fusion["bias"],
         fusion["dev_eer"])
