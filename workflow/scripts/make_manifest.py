"""Dataset adapter -> manifest parquet + rejects csv."""
from scaa.workflow.job import setup

log = setup(snakemake, "manifest")  # noqa: F821
from scaa import manifest  # noqa: E402
from scaa.registry import DATASETS  # noqa: E402

spec = dict(snakemake.params.spec)  # noqa: F821
spec.setdefault("max_seconds", snakemake.params.max_seconds)  # noqa: F821
spec.setdefault("min_seconds", snakemake.params.min_seconds)  # noqa: F821
df, rejects = DATASETS.build(spec).build()
manifest.write(df, rejects, snakemake.output.manifest, snakemake.output.rejects)  # noqa: F821
log.info("%d clips kept, %d rejected; per split/label:\n%s", len(df), len(rejects),
         df.groupby(["split", "label"]).size().to_string())
if len(rejects):
    log.warning("rejects by reason:\n%s", rejects["reason"].value_counts().to_string())
