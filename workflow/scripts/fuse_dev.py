"""Fit one fusion cell on its members' dev scores (scaa.fusion)."""
from pathlib import Path

from scaa.workflow_job import setup

log = setup(snakemake, "fusion")  # noqa: F821
from scaa.fusion import fit_cell  # noqa: E402

fusion = fit_cell(snakemake.params.spec, list(snakemake.input.dev),  # noqa: F821
                  Path(snakemake.output.fusion).parent)  # noqa: F821
log.info("weights %s bias %.4f; dev EER %s", [m["weight"] for m in fusion["members"]], fusion["bias"],
         fusion["dev_eer"])
