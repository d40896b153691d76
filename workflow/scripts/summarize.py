"""All cells -> results/ablations/summary.{csv,html} (+ effects.csv, resynth_overlap.csv)."""
from scaa.wf import setup

log = setup(snakemake, "summary")  # noqa: F821
import pandas as pd  # noqa: E402

from scaa.report.summary import build  # noqa: E402
from scaa.resynth import overlaps  # noqa: E402

p = snakemake.params  # noqa: F821
eval_attacks = {ds: sorted(set(m.loc[m["split"] == "eval", "attack"]) - {"-"})
                for ds, m in ((ds, pd.read_parquet(path)) for ds, path in
                              zip(p.eval_datasets, snakemake.input.eval_manifests))}  # noqa: F821
overlap = overlaps(p.resynth_config, p.resynth_sets, eval_attacks)
table = build(p.cells, p.skipped, p.eval_datasets, list(snakemake.input.rejects),  # noqa: F821
              list(snakemake.input.skips), p.evaluation, p.seed,  # noqa: F821
              snakemake.output.csv, snakemake.output.html, benchmark_csv=p.benchmark_csv,  # noqa: F821
              seed_groups=p.seed_groups, fusions=p.fusions, overlap=overlap,
              effects_path=snakemake.output.effects)  # noqa: F821
log.info("summary of %d rows; %d eval attacks share a family with generated spoofs", len(table), len(overlap))
