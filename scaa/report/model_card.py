"""Markdown tables for MODEL_CARD.md, read from the summary files (no number typed by hand).

    python -m scaa.report.model_card results/ablations/summary.csv [--root DIR] > tables.md

Reads summary.csv, skipped_clips.csv, skipped_cells.csv and robustness.csv beside it, and
the per-attack EER of the best cell by *dev* EER (per training set) from that cell's
metrics json; the eval split never picks the cell it reports. For that cell it also
states the worst channel condition and the energy columns.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from scaa.plan.grid import AXES, RUN_AXES
from scaa.report.html_common import num


def _pct_ci(v, lo=None, hi=None) -> str:
    v, lo, hi = num(v), num(lo), num(hi)
    if v is None:
        return "–"
    return f"{100 * v:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]" if lo is not None and hi is not None \
        else f"{100 * v:.2f}"


def _f3(v) -> str:
    v = num(v)
    return "–" if v is None else f"{v:.3f}"


def md_table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def cell_name(row) -> str:
    return "/".join(str(row[a]) for a in AXES if a in row)


def per_cell_tables(table: pd.DataFrame) -> str:
    parts = []
    for ds, g in table.groupby("eval_dataset", sort=False):
        rows = []
        for _, r in g.sort_values("eer").iterrows():
            ref = " (reference)" if str(r.get("is_reference")) == "True" else ""
            rows.append([f"`{cell_name(r)}`{ref}", _pct_ci(r["eer"], r.get("eer_lo"), r.get("eer_hi")),
                         _f3(r.get("roc_auc")), _f3(r.get("min_dcf")), _f3(r.get("ece")), _pct_ci(r.get("dev_eer"))])
        parts.append(f"#### Eval set `{ds}`\n\n" + md_table(
            ["cell (train/encoder/view/loss/head/freeze/seed)", "EER % [95% CI]", "ROC-AUC", "minDCF", "ECE",
             "dev EER %"], rows))
    return "\n\n".join(parts)


def best_by_dev(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (training set, eval set): the cell with the lowest dev EER (ties: cell name)."""
    t = table.dropna(subset=["dev_eer"]).assign(_name=lambda d: [cell_name(r) for _, r in d.iterrows()])
    t = t.sort_values(["dev_eer", "_name"])
    return t.groupby(["train_dataset", "eval_dataset"], sort=False).head(1).drop(columns="_name")


def per_attack_tables(table: pd.DataFrame, root: Path) -> str:
    parts = []
    for _, r in best_by_dev(table).iterrows():
        path = root / str(r["run_dir"]) / "metrics" / f"{r['eval_dataset']}.json"
        head = (f"#### Best cell by dev EER ({_pct_ci(r['dev_eer'])} %) among cells trained on "
                f"`{r['train_dataset']}`: `{cell_name(r)}`, eval set `{r['eval_dataset']}`\n\n")
        if not path.exists():
            parts.append(head + f"(metrics file {path} not found)")
            continue
        res = json.loads(path.read_text())
        per = res.get("per_attack_eer") or {}
        rows = [[a, e.get("n_spoof", "–"), _pct_ci(e.get("value"), e.get("ci_low"), e.get("ci_high"))]
                for a, e in sorted(per.items())]
        ns = num(((res.get("n") or {}).get("test") or {}).get("spoof"))
        rows.append(["**pooled**", "–" if ns is None else int(ns),
                     _pct_ci(r["eer"], r.get("eer_lo"), r.get("eer_hi"))])
        parts.append(head + md_table(["attack", "spoof clips", "EER % [95% CI] (vs all bona fide)"], rows))
    return "\n\n".join(parts)


def skipped_clips_table(path: Path) -> str:
    if not path.exists():
        return f"({path.name} not found)"
    df = pd.read_csv(path, keep_default_na=False)
    if not len(df):
        return "No clip was skipped at any stage."
    rows = [[r["stage"], r["dataset"], r.get("where", ""), r["reason"], r.get("detail", ""), int(r["clips"])]
            for _, r in df.iterrows()]
    rows.append(["**total**", "", "", "", "", int(df["clips"].sum())])
    return md_table(["stage", "dataset", "where", "reason", "examples", "clips"], rows)


def skipped_cells_table(path: Path) -> str:
    if not path.exists():
        return "Every cell of the grid ran."
    df = pd.read_csv(path)
    return md_table(["cell", "reason"], [[f"`{cell_name(r)}`", r["reason"]] for _, r in df.iterrows()])


def robustness_text(table: pd.DataFrame, path: Path) -> str:
    """Per (training set, eval set): the best cell by dev EER, its EER per condition and its worst one."""
    if not path.exists():
        return f"({path.name} not found: no channel conditions were scored)"
    rob = pd.read_csv(path)
    if not len(rob) or set(rob["condition"]) == {"clean"}:
        return "No channel conditions configured (`evaluation.conditions`)."
    from scaa.workflow.robustness import worst_condition

    parts = []
    for _, r in best_by_dev(table).iterrows():
        sel = rob[(rob["eval_dataset"].astype(str) == str(r["eval_dataset"]))]
        for a in RUN_AXES:  # the matrix names cells by these seven axes
            sel = sel[sel[a].astype(str) == str(r[a])]
        worst = worst_condition(rob, r.to_dict(), r["eval_dataset"])
        head = f"Best cell by dev EER `{cell_name(r)}` on eval set `{r['eval_dataset']}`: "
        if worst is None:
            parts.append(head + "no condition produced a result.")
            continue
        head += (f"worst condition **{worst['condition']}**, EER {_pct_ci(worst['eer'], worst['eer_lo'], worst['eer_hi'])} %"
                 f" (ΔEER vs clean {_pp_ci(worst['d_eer'], worst['d_eer_lo'], worst['d_eer_hi'])} pp, paired bootstrap).")
        rows = [[c["condition"], c["status"], _pct_ci(c["eer"], c["eer_lo"], c["eer_hi"]),
                 _pp_ci(c["d_eer"], c["d_eer_lo"], c["d_eer_hi"]) if c["condition"] != "clean" else "–"]
                for _, c in sel.iterrows()]
        parts.append(head + "\n\n" + md_table(["condition", "status", "EER % [95% CI]", "ΔEER pp [95% CI]"], rows))
    return "\n\n".join(parts)


def _pp_ci(v, lo=None, hi=None) -> str:
    v, lo, hi = num(v), num(lo), num(hi)
    if v is None:
        return "–"
    return f"{100 * v:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]" if lo is not None and hi is not None \
        else f"{100 * v:+.2f}"


def energy_text(table: pd.DataFrame) -> str:
    if "energy_train_kwh" not in table:
        return "(no energy columns in summary.csv)"
    rows = []
    for _, r in best_by_dev(table).iterrows():
        def milli(col):  # kWh -> Wh, kg -> g
            v = num(r.get(col))
            return "unavailable" if v is None else f"{1000 * v:.3g}"

        rows.append([f"`{cell_name(r)}`", r["eval_dataset"], milli("energy_train_kwh"),
                     milli("energy_features_train_kwh"), milli("energy_kwh_per_1k_detections"),
                     milli("co2_kg_per_1k_detections"), r.get("energy_method", "–")])
    return ("Best cell by dev EER per training/eval set; CodeCarbon offline, the grid's carbon intensity from "
            "`energy.country_iso_code`.\n\n" + md_table(
                ["cell", "eval set", "training Wh", "train-set features Wh (shared)", "Wh per 1,000 detections",
                 "g CO2eq per 1,000 detections", "method"], rows))


def render(summary_csv: str, root: str = ".") -> str:
    csv = Path(summary_csv)
    table = pd.read_csv(csv)
    if not len(table):
        raise ValueError(f"{csv} has no rows")
    return "\n\n".join([
        "### Eval results per cell\n\nEER with 95% bootstrap CI; calibration and threshold from dev only.",
        per_cell_tables(table),
        "### Per-attack EER",
        per_attack_tables(table, Path(root)),
        "### Robustness under channel conditions",
        robustness_text(table, csv.with_name("robustness.csv")),
        "### Energy",
        energy_text(table),
        "### Clips skipped",
        skipped_clips_table(csv.with_name("skipped_clips.csv")),
        "### Cells not run",
        skipped_cells_table(csv.with_name("skipped_cells.csv")),
    ]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summary_csv")
    ap.add_argument("--root", default=".", help="directory that run_dir paths are relative to")
    args = ap.parse_args(argv)
    sys.stdout.write(render(args.summary_csv, args.root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
