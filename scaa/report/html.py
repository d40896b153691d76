"""Self-contained HTML summary (interim: table only; charts come with the report module)."""
from __future__ import annotations

import html

import pandas as pd


def write_html(table: pd.DataFrame, skipped_cells: pd.DataFrame, skipped_clips: pd.DataFrame,
               evaluation: dict, path: str) -> None:
    cols = [c for c in ["train_dataset", "encoder", "view", "loss", "head", "freeze", "seed", "eval_dataset",
                        "dev_eer", "eer", "eer_lo", "eer_hi", "roc_auc", "ap", "ece", "min_dcf"] if c in table]
    parts = ["<html><head><meta charset='utf-8'><title>SCAA ablation summary</title></head><body>",
             "<h1>SCAA ablation summary</h1>", table[cols].to_html(index=False, float_format="%.4f"),
             "<h2>Cells not run</h2>",
             skipped_cells.to_html(index=False) if len(skipped_cells) else "<p>none</p>",
             "<h2>Clips skipped</h2>",
             skipped_clips.to_html(index=False) if len(skipped_clips) else "<p>none</p>",
             f"<p>{html.escape(str(evaluation))}</p></body></html>"]
    with open(path, "w") as fh:
        fh.write("\n".join(parts))
