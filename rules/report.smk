# Report stage: the ablation summary (CSV + self-contained HTML).


rule summary:
    input:
        # every file the summary reads: metrics (dev EER, CIs, paired differences), cell
        # configs (training info), scores (factor effects), fusion records
        metrics=all_metrics(),
        configs=all_run_files("config.yaml"),
        scores=all_scores(),
        fusion_metrics=all_fusion_metrics(),
        fusion_records=all_fusion_files("fusion.json"),
        eval_manifests=expand("results/manifest/{dataset}.parquet", dataset=config["eval_datasets"]),
        rejects=expand(
            "results/manifest/{dataset}.rejects.csv",
            dataset=sorted(
                set(training_sets.all_corpora(config, grid.axes(config)["train_dataset"]))
                | set(config["eval_datasets"])
            ),
        ),
        skips=lambda wildcards: all_feature_skips(),
        robustness="results/ablations/robustness.csv",
        errors=all_errors(),
        energy=lambda wildcards: all_energy(),
    output:
        csv=report("results/ablations/summary.csv", caption="../workflow/report/summary_csv.rst", category="Ablation summary"),
        html=report("results/ablations/summary.html", caption="../workflow/report/summary_html.rst", category="Ablation summary"),
        effects="results/ablations/effects.csv",
        generalisation="results/ablations/generalisation.csv",
    params:
        cells=[c.as_dict() for c in CELLS],
        skipped=[{**c.as_dict(), "reason": why} for c, why in SKIPPED]
        + [{"encoder": "fusion", "head": f["fusion"], "seed": f["seed"], "reason": f["reason"]}
           for f in SKIPPED_FUSIONS],
        # seed-independent cells trained once: run_dir -> the seeds each stands for
        seed_groups=grid.seed_groups(config),
        fusions=[{"row": f.row(), "run_dir": f.run_dir} for f in FUSIONS],
        resynth_sets=RESYNTH_SETS_USED,
        resynth_config=resynth_overlap_config(),
        eval_datasets=config["eval_datasets"],
        # the train x test matrix: what each training set trains and selects on, how splits arose
        training_sets=generalisation_sets(),
        split_rules=split_rules(),
        evaluation=config["evaluation"],
        seed=config["seed"],
        # a param, not an input: the summary shows costs when the benchmark rule has run
        # (snakemake benchmark_all), without forcing it
        benchmark_csv="results/benchmark/summary.csv",
        conditions=CONDITION_NAMES,
    log:
        "logs/summary.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/summary.py"
