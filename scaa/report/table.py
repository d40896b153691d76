"""Collect per-cell metrics, skips and paired comparisons into tidy tables."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scaa.fuser import FUSION_FILE
from scaa.plan.grid import AXES, NO_RESYNTH, Cell

HEADLINE = ("eer", "roc_auc", "average_precision", "ece", "brier", "min_dcf", "act_dcf", "cllr", "accuracy", "far", "frr")


def metric_value(result: dict, name: str) -> tuple[float, float, float]:
    """(value, ci_low, ci_high) for a metric in an evaluate() result; NaN where absent."""
    entry = result.get("metrics", result).get(name)
    if entry is None:
        return (np.nan, np.nan, np.nan)
    if isinstance(entry, dict):
        ci = entry.get("ci") or [entry.get("ci_low"), entry.get("ci_high")]
        lo, hi = (ci + [None, None])[:2] if isinstance(ci, list) else (None, None)
        return (_f(entry.get("value")), _f(lo), _f(hi))
    return (_f(entry), np.nan, np.nan)


def _f(x) -> float:
    return float("nan") if x is None else float(x)


def cell_rows(cells: list[dict], eval_datasets: list[str], seed_groups: dict | None = None) -> pd.DataFrame:
    """One row per cell and eval dataset. ``seeds`` lists the seeds a row stands for: its
    own, or every seed of the grid for a seed-independent cell trained once
    (``scaa.plan.grid.seed_groups``: run_dir -> seeds)."""
    rows = []
    groups = seed_groups or {}
    for c in cells:
        cell = Cell(**c)
        run = Path(cell.run_dir)
        seeds = ",".join(str(s) for s in groups.get(cell.run_dir, [cell.seed]))
        info = _training_info(run)
        for ds in eval_datasets:
            result = json.loads((run / "metrics" / f"{ds}.json").read_text())
            row = {**cell.as_dict(), "resynth": cell.resynth, "seeds": seeds, "eval_dataset": ds,
                   "run_dir": str(run), **result_columns(result)}
            row.update({"train_clips": info.get("train_clips"), "train_seconds": info.get("train_seconds"),
                        "params": (info.get("parameters") or {}).get("total"),
                        "generated_spoofs": sum((info.get("generated") or {}).values())})
            rows.append(row)
    return pd.DataFrame(rows)


def result_columns(result: dict) -> dict:
    """A table row's columns from one metrics JSON (the evaluate rule's output): the dev EER
    the threshold was fitted at, each headline metric with its CI, the clip counts and, when
    a reference cell is configured, the paired difference to it (``d_<metric>``)."""
    row = {"dev_eer": _f((result.get("threshold") or {}).get("dev_eer"))}
    for m in HEADLINE:
        v, lo, hi = metric_value(result, m)
        row.update({m: v, f"{m}_lo": lo, f"{m}_hi": hi})
    row["n_bonafide"], row["n_spoof"] = _counts(result)
    paired = result.get("paired")
    if paired is not None:
        row.update(_flatten_paired(paired.get("metrics") or {}))
        row["is_reference"] = bool(paired.get("is_reference"))
    return row


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


def _training_info(run: Path) -> dict:
    import yaml

    cfg = run / "config.yaml"
    return (yaml.safe_load(cfg.read_text()) or {}).get("training_info", {}) if cfg.exists() else {}


def _counts(result: dict) -> tuple[float, float]:
    n = (result.get("n") or {}).get("test") or {}
    return (n.get("bonafide", np.nan), n.get("spoof", np.nan))


def skip_table(rejects: list[str], skips: list[str], examples: int = 3) -> pd.DataFrame:
    """Clips left out at each stage, counted by dataset and reason code, with up to
    ``examples`` distinct details of each (the full text, never cut)."""
    frames = []
    for stage, paths in (("manifest", rejects), ("features", skips)):
        for p in paths:
            df = pd.read_csv(p, dtype=str, keep_default_na=False)
            if not len(df):
                continue
            if "detail" not in df:  # a file written before reasons had their own column
                df["detail"] = ""
            parts = Path(p).parts
            top = next((d for d in ("features", "resynth", "resynth_audio") if d in parts), None)  # generated rows
            dataset = Path(p).name.split(".")[0] if stage == "manifest" else parts[parts.index(top) + 1]
            where = "" if stage == "manifest" else (("resynth:" if top != "features" else "")
                                                    + "/".join(parts[parts.index(top) + 2:-1]))
            frames.append(df.assign(stage=stage, dataset=dataset, where=where))
    columns = ["stage", "dataset", "where", "reason", "detail", "clips"]
    if not frames:
        return pd.DataFrame(columns=columns)
    all_ = pd.concat(frames)
    rows = []
    for key, g in all_.groupby(["stage", "dataset", "where", "reason"], sort=True):
        details = [d for d in dict.fromkeys(g["detail"]) if d]
        detail = " | ".join(details[:examples]) + (f" | … {len(details) - examples} more" if len(details) > examples
                                                    else "")
        rows.append([*key, detail, len(g)])
    return pd.DataFrame(rows, columns=columns)


def match_cell(table: pd.DataFrame, cell: dict) -> pd.Series:
    """Rows of the cell that ``cell`` (axis -> value) names. A seed also matches a
    seed-independent row that stands for it, so a reference with any seed of the grid
    finds the cell that was trained once for all of them; a cell without ``resynth`` names
    the one trained without generated spoofs."""
    mask = pd.Series(True, index=table.index)
    for k, v in {"resynth": NO_RESYNTH, **cell}.items():  # no resynth named: the plain cell
        if k not in table:
            continue
        hit = table[k].astype(str) == str(v)
        if k == "seed" and "seeds" in table:
            listed = table["seeds"].fillna("").astype(str).str.split(",")
            hit |= listed.map(lambda seeds: isinstance(seeds, list) and str(v) in seeds)
        mask &= hit
    return mask


def cell_key(row) -> str:
    return "/".join(str(row.get(a, "none")) for a in AXES)


def fusion_rows(fusions: list[dict], eval_datasets: list[str]) -> pd.DataFrame:
    """Rows like :func:`scaa.report.table.cell_rows` for fusion cells (``fusions``: each
    ``{"row": FusionCell.row(), "run_dir": ...}``)."""
    rows = []
    for f in fusions:
        run = Path(f["run_dir"])
        info = json.loads((run / FUSION_FILE).read_text())
        for ds in eval_datasets:
            result = json.loads((run / "metrics" / f"{ds}.json").read_text())
            row = {**f["row"], "eval_dataset": ds, "run_dir": str(run), **result_columns(result)}
            row["params"] = None
            row["fusion_members"] = " + ".join(f"{m['weight']:+.3g}·{m['run_dir']}" for m in info["members"])
            rows.append(row)
    return pd.DataFrame(rows)
