"""One cell on one eval dataset under every channel condition (EER, ΔEER vs clean), then
its most confident misses / false alarms and per-attack / per-speaker EER."""
from scaa.workflow.job import setup

log = setup(snakemake, "robustness")  # noqa: F821
from scaa.workflow.error_analysis import run as error_analysis  # noqa: E402
from scaa.workflow.robustness import run_cell  # noqa: E402

p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
outputs = {c: (s, m) for c, s, m in zip(p.conditions, o.scores, o.metrics)}
for res in run_cell(p.spec, p.run_dir, i.manifest, p.shards, i.clean, outputs, p.evaluation, p.seed,
                    threads=snakemake.threads):  # noqa: F821
    log.info("%s: %s %s", res["condition"], res["status"], res.get("eer") or res.get("reason"))
n = error_analysis(p.cell, p.run_dir, snakemake.wildcards.eval_dataset, i.dev, i.clean,  # noqa: F821
                   {c: s for c, (s, _) in outputs.items()}, o.errors, o.groups,
                   calibration=p.calibration, top_k=p.top_k)
log.info("%d confident errors listed", n)
