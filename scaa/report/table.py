"""Collect per-cell metrics, skips and paired comparisons into tidy tables."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scaa import metrics as M
from scaa.grid import AXES, Cell

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


def cell_rows(cells: list[dict], eval_datasets: list[str]) -> pd.DataFrame:
    rows = []
    for c in cells:
        cell = Cell(**c)
        run = Path(cell.run_dir)
        dev = pd.read_parquet(run / "dev_scores.parquet")
        dev_eer = M.eer(dev["score"].to_numpy(), dev["label"].to_numpy())
        info = _training_info(run)
        for ds in eval_datasets:
            result = json.loads((run / "metrics" / f"{ds}.json").read_text())
            row = {**cell.as_dict(), "resynth": cell.resynth, "eval_dataset": ds, "dev_eer": dev_eer,
                   "run_dir": str(run)}
            for m in HEADLINE:
                v, lo, hi = metric_value(result, m)
                row.update({m: v, f"{m}_lo": lo, f"{m}_hi": hi})
            row["n_bonafide"], row["n_spoof"] = _counts(result)
            row.update({"train_clips": info.get("train_clips"), "train_seconds": info.get("train_seconds"),
                        "params": (info.get("parameters") or {}).get("total"),
                        "generated_spoofs": sum((info.get("generated") or {}).values())})
            rows.append(row)
    return pd.DataFrame(rows)


def _training_info(run: Path) -> dict:
    import yaml

    cfg = run / "config.yaml"
    return (yaml.safe_load(cfg.read_text()) or {}).get("training_info", {}) if cfg.exists() else {}


def _counts(result: dict) -> tuple[float, float]:
    n = (result.get("n") or {}).get("test") or {}
    return (n.get("bonafide", np.nan), n.get("spoof", np.nan))


def skip_table(rejects: list[str], skips: list[str]) -> pd.DataFrame:
    """Clips left out at each stage, by dataset and reason (the part before any ':')."""
    frames = []
    for stage, paths in (("manifest", rejects), ("features", skips)):
        for p in paths:
            df = pd.read_csv(p)
            if not len(df):
                continue
            parts = Path(p).parts
            top = next((d for d in ("features", "resynth", "resynth_audio") if d in parts), None)  # generated rows
            dataset = Path(p).name.split(".")[0] if stage == "manifest" else parts[parts.index(top) + 1]
            where = "" if stage == "manifest" else (("resynth:" if top != "features" else "")
                                                    + "/".join(parts[parts.index(top) + 2:-1]))
            df = df.assign(stage=stage, dataset=dataset, where=where,
                           reason=df["reason"].astype(str).str.split(":").str[0])
            frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["stage", "dataset", "where", "reason", "clips"])
    all_ = pd.concat(frames)
    return (all_.groupby(["stage", "dataset", "where", "reason"]).size().rename("clips").reset_index())


def cell_key(row) -> str:
    return "/".join(str(row.get(a, "none")) for a in AXES)
