"""The robustness table (robustness.csv): every cell's EER and its change under each channel condition, per eval set."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scaa.plan.grid import Cell
from scaa.report.table import metric_value
from scaa.workflow.robustness import condition_paths


def collect(cells: list[dict], eval_datasets: list[str], conditions: list[str], out_csv: str) -> pd.DataFrame:
    """robustness.csv: one row per cell x eval dataset x condition (clean first, ΔEER 0)."""
    rows = []
    for c in cells:
        run = Cell(**c).run_dir
        for ds in eval_datasets:
            base = {**c, "eval_dataset": ds, "run_dir": run}
            clean = json.loads(Path(f"{run}/metrics/{ds}.json").read_text())
            v, lo, hi = metric_value(clean, "eer")
            n = (clean.get("n") or {}).get("test") or {}
            rows.append({**base, "condition": "clean", "status": "ok", "eer": v, "eer_lo": lo, "eer_hi": hi,
                         "d_eer": 0.0, "d_eer_lo": 0.0, "d_eer_hi": 0.0, "n_bonafide": n.get("bonafide"),
                         "n_spoof": n.get("spoof"), "reason": ""})
            for cond in conditions:
                res = json.loads(Path(condition_paths(run, ds, cond)[1]).read_text())
                e, d = res.get("eer") or {}, res.get("d_eer") or {}
                rows.append({**base, "condition": cond, "status": res.get("status"),
                             "eer": e.get("value"), "eer_lo": e.get("ci_low"), "eer_hi": e.get("ci_high"),
                             "d_eer": d.get("value"), "d_eer_lo": d.get("ci_low"), "d_eer_hi": d.get("ci_high"),
                             "n_bonafide": res["n"]["bonafide"], "n_spoof": res["n"]["spoof"],
                             "reason": res.get("reason", res.get("paired_skip", ""))})
    table = pd.DataFrame(rows)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    return table
