"""Metrics for one (cell, eval dataset): calibration/threshold on dev, metrics + CIs on eval."""
import json

import pandas as pd

from scaa.workflow_job import setup

log = setup(snakemake, "evaluate")  # noqa: F821
from scaa.evaluate import evaluate  # noqa: E402

ev = snakemake.params.evaluation  # noqa: F821
result = evaluate(pd.read_parquet(snakemake.input.dev), pd.read_parquet(snakemake.input.test),  # noqa: F821
                  n_boot=ev.get("n_boot", 1000), seed=snakemake.params.seed,  # noqa: F821
                  group_by_speaker=ev.get("group_by_speaker", False), calibration=ev.get("calibration", "platt"))
with open(snakemake.output[0], "w") as fh:  # noqa: F821
    json.dump(result, fh, indent=1)
log.info("eval EER %.4f", result["metrics"]["eer"]["value"])
