"""All cells -> results/ablations/summary.{csv,html} (+ effects.csv, resynth_overlap.csv)."""
from functools import partial

from scaa.workflow.job import setup

log = setup(snakemake, "summary")  # noqa: F821
import pandas as pd  # noqa: E402

from scaa.plan.grid import view_names  # noqa: E402
from scaa.report.summary import build  # noqa: E402
from scaa.workflow.resynth import overlaps  # noqa: E402

p, i = snakemake.params, snakemake.input  # noqa: F821
eval_attacks = {ds: sorted(set(m.loc[m["split"] == "eval", "attack"]) - {"-"})
                for ds, m in ((ds, pd.read_parquet(path)) for ds, path in zip(p.eval_datasets, i.eval_manifests))}
overlap = overlaps(p.resynth_config, p.resynth_sets, eval_attacks)
table = build(p.cells, p.skipped, p.eval_datasets, list(i.rejects), list(i.skips), p.evaluation, p.seed,
              snakemake.output.csv, snakemake.output.html, benchmark_csv=p.benchmark_csv,  # noqa: F821
              seed_groups=p.seed_groups, fusions=p.fusions, overlap=overlap,
              effects_path=snakemake.output.effects,  # noqa: F821
              robustness_csv=i.robustness, errors=list(i.errors), energy=list(i.energy),
              view_names=partial(view_names, snakemake.config),  # noqa: F821
              training_sets=p.training_sets, split_rules=p.split_rules,
              generalisation_path=snakemake.output.generalisation)  # noqa: F821
log.info("summary of %d rows; %d eval attacks share a family with generated spoofs", len(table), len(overlap))
