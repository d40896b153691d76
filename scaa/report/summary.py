"""Build results/ablations/summary.csv and summary.html from the per-cell outputs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from scaa.plan.grid import NO_RESYNTH
from scaa.report.table import cell_rows, skip_table


def build(cells: list[dict], skipped: list[dict], eval_datasets: list[str], rejects: list[str],
          skips: list[str], evaluation: dict, seed: int, csv_path: str, html_path: str,
          benchmark_csv: str | None = None, seed_groups: dict | None = None, fusions: list[dict] | None = None,
          overlap: list[dict] | None = None, effects_path: str | None = None, robustness_csv: str | None = None,
          errors: list[str] | None = None, energy: list[str] | None = None, view_names=None,
          training_sets: dict | None = None, split_rules: dict | None = None,
          generalisation_path: str | None = None) -> pd.DataFrame:
    """``fusions``: fusion cells ({"row", "run_dir"}, listed like cells); ``overlap``: eval
    attacks whose family the study's vocoded spoofs share (scaa.workflow.resynth.overlaps);
    ``robustness_csv`` / ``errors`` / ``energy``: the robustness stage's outputs;
    ``training_sets``: train key -> {corpora, dev, balance, left_out} for the train × test
    matrix (:mod:`scaa.report.generalisation`), ``split_rules``: dataset -> how its splits arose."""
    table = cell_rows(cells, eval_datasets, seed_groups)
    if fusions:
        from scaa.report.table import fusion_rows

        table = pd.concat([table, fusion_rows(fusions, eval_datasets)], ignore_index=True)
    table = add_overlap_flag(table, overlap or [])
    if energy is not None:
        from scaa.workflow.energy import summary_columns

        sets = training_sets or {}
        table = summary_columns(table, energy, view_names or (lambda v: [v]),
                                lambda name: (sets[name]["corpora"], sets[name]["dev"]) if name in sets
                                else ([name], [name]))
    table = table.sort_values(["eval_dataset", "eer"]).reset_index(drop=True)
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv_path, index=False)
    skipped_df = pd.DataFrame(skipped)
    if len(skipped_df):
        skipped_df.to_csv(Path(csv_path).with_name("skipped_cells.csv"), index=False)
    skip_df = skip_table(rejects, skips)
    skip_df.to_csv(Path(csv_path).with_name("skipped_clips.csv"), index=False)
    from scaa.report.effects import factor_effects
    from scaa.report.html import write_html

    effects = factor_effects(table, n_boot=int(evaluation.get("n_boot", 1000)), seed=seed)
    effects.to_csv(effects_path or Path(csv_path).with_name("effects.csv"), index=False)
    overlap_df = pd.DataFrame(overlap or [])
    overlap_df.to_csv(Path(csv_path).with_name("resynth_overlap.csv"), index=False)
    benchmark = pd.read_csv(benchmark_csv) if benchmark_csv and Path(benchmark_csv).exists() else None
    rob = pd.read_csv(robustness_csv) if robustness_csv and Path(robustness_csv).exists() else None
    errs = [pd.read_csv(p) for p in errors or [] if Path(p).exists()]
    errs = pd.concat(errs, ignore_index=True) if errs else None
    from scaa.report.generalisation import matrix, set_info

    sets = training_sets or set_info(sorted(set(table["train_dataset"].astype(str))) if len(table) else [], {})
    general = matrix(table, sets)
    general.to_csv(generalisation_path or Path(csv_path).with_name("generalisation.csv"), index=False)
    write_html(table, skipped_df, skip_df, evaluation, html_path, benchmark=benchmark, effects=effects,
               overlap=overlap_df, robustness=rob, errors=errs, generalisation=general, split_rules=split_rules)
    return table


def add_overlap_flag(table: pd.DataFrame, overlap: list[dict]) -> pd.DataFrame:
    """``unseen_overlap``: for a cell with vocoded spoofs, the eval attacks of that dataset
    whose family its generators share ("A07:codec2"), i.e. attacks that are not unseen."""
    if not len(table) or "resynth" not in table:
        return table
    table = table.copy()
    flags = []
    for _, row in table.iterrows():
        sets = set(str(row.get("resynth") or NO_RESYNTH).split("+")) - {NO_RESYNTH}
        hit = [f"{o['attack']}:{o['family']}" for o in overlap if o["eval_dataset"] == row["eval_dataset"]
               and sets & set(o["resynth_sets"].split(","))]
        flags.append(", ".join(sorted(set(hit))))
    table["unseen_overlap"] = flags
    return table
