"""Build results/ablations/summary.csv and summary.html from the per-cell outputs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from scaa.grid import NO_RESYNTH
from scaa.report.table import cell_rows, match_cell, skip_table


def build(cells: list[dict], skipped: list[dict], eval_datasets: list[str], rejects: list[str],
          skips: list[str], evaluation: dict, seed: int, csv_path: str, html_path: str,
          benchmark_csv: str | None = None, seed_groups: dict | None = None, fusions: list[dict] | None = None,
          overlap: list[dict] | None = None, effects_path: str | None = None, robustness_csv: str | None = None,
          errors: list[str] | None = None, energy: list[str] | None = None, view_names=None) -> pd.DataFrame:
    """``fusions``: fusion cells ({"row", "run_dir"}, listed like cells); ``overlap``: eval
    attacks whose family the study's vocoded spoofs share (scaa.resynth.overlaps);
    ``robustness_csv`` / ``errors`` / ``energy``: the robustness stage's outputs."""
    table = cell_rows(cells, eval_datasets, seed_groups)
    if fusions:
        from scaa.fusion import summary_rows

        table = pd.concat([table, summary_rows(fusions, eval_datasets)], ignore_index=True)
    table = add_overlap_flag(table, overlap or [])
    table = add_paired(table, evaluation, seed)
    if energy is not None:
        from scaa.energy import summary_columns

        table = summary_columns(table, energy, view_names or (lambda v: [v]))
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
    write_html(table, skipped_df, skip_df, evaluation, html_path, benchmark=benchmark, effects=effects,
               overlap=overlap_df, robustness=rob, errors=errs)
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


def add_paired(table: pd.DataFrame, evaluation: dict, seed: int) -> pd.DataFrame:
    """Paired bootstrap of each cell against the reference cell, on the same eval clips."""
    ref = evaluation.get("reference")
    if not ref or not len(table):
        return table
    from scaa.evaluate import paired_comparison

    mask = match_cell(table, ref)
    out = []
    for ds, group in table.groupby("eval_dataset", sort=False):
        ref_rows = group[mask[group.index]]
        group = group.copy()
        if not len(ref_rows):
            out.append(group)
            continue
        ref_dir = ref_rows.iloc[0]["run_dir"]
        ref_scores = pd.read_parquet(Path(ref_dir) / "scores" / f"{ds}.parquet")
        for i, row in group.iterrows():
            scores = pd.read_parquet(Path(row["run_dir"]) / "scores" / f"{ds}.parquet")
            res = paired_comparison(scores, ref_scores, n_boot=int(evaluation.get("n_boot", 1000)), seed=seed)
            for key, val in _flatten_paired(res.get("metrics", res)).items():
                group.loc[i, key] = val
        group["is_reference"] = mask[group.index]
        out.append(group)
    return pd.concat(out)


def _flatten_paired(res: dict) -> dict:
    flat = {}
    for metric, entry in res.items():
        if not isinstance(entry, dict) or "diff" not in entry and "value" not in entry:
            continue
        val = entry.get("diff", entry.get("value"))
        ci = entry.get("ci") or [entry.get("ci_low"), entry.get("ci_high")]
        flat[f"d_{metric}"] = val
        flat[f"d_{metric}_lo"], flat[f"d_{metric}_hi"] = ci[0], ci[1]
        if "sign_flip_share" in entry:
            flat[f"d_{metric}_sign_flip"] = entry["sign_flip_share"]
    return flat
