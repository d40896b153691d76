"""The robustness matrix: every cell scored under every channel condition.

One job per (cell, eval dataset) loads the trained head once and scores every
condition's cached features (``results/features/{dataset}/{encoder}/cond-{condition}/...``,
eval split only), writing per condition the EER (bootstrap CI) and the paired ΔEER
against the same cell on clean audio (same clips, same resamples); the cell's error
lists (:mod:`scaa.workflow.error_analysis`) come from the same job. One job rather than one per
condition because a job's start-up (imports, model load: seconds) costs more than
scoring a condition. Clips whose score is not finite are dropped and counted; a
condition left with too few clips of either class is a recorded skip (``status:
skipped`` plus the reason), never a failed job.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scaa import bootstrap
from scaa.workflow.evaluate import jsonable, paired_comparison
from scaa.plan.grid import RUN_AXES

MIN_PER_CLASS = 2


def score_condition(head, eval_rows: pd.DataFrame, shards: list[str], out_path: str) -> dict:
    """Eval-split scores on one condition's features; non-finite scores are dropped and counted."""
    from scaa.workflow.train import SCORE_COLUMNS, features_for

    feats, rows = features_for(eval_rows, shards)
    out = rows.loc[:, ["utt_id", "split", "label", "attack", "speaker"]].copy()
    if len(rows):
        out["score"] = np.asarray(head.decision_function(feats.X), dtype=np.float64)
    else:
        out["score"] = np.zeros(0)
    finite = np.isfinite(out["score"].to_numpy())
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    out.loc[finite, SCORE_COLUMNS].to_parquet(out_path, index=False)
    return {"scored": int(finite.sum()), "non_finite": int((~finite).sum()),
            "no_features": int(len(eval_rows) - len(rows))}


def evaluate_condition(condition: str, scores: pd.DataFrame, clean: pd.DataFrame, *, n_boot: int = 1000,
                       seed: int = 0, group_by_speaker: bool = False, counts: dict | None = None) -> dict:
    """EER (+CI) under the condition and ΔEER = EER(condition) − EER(clean) with a paired CI."""
    out = {"condition": condition, "status": "ok", "clips": dict(counts or {})}
    y = scores["label"].to_numpy().astype(int) if len(scores) else np.zeros(0, int)
    s = scores["score"].to_numpy(np.float64) if len(scores) else np.zeros(0)
    n0, n1 = int((y == 0).sum()), int((y == 1).sum())
    out["n"] = {"bonafide": n0, "spoof": n1}
    if min(n0, n1) < MIN_PER_CLASS or not np.isfinite(s).all():
        out["status"] = "skipped"
        out["reason"] = (f"too few scored clips under {condition} (bona fide {n0}, spoof {n1}; "
                         f"{(counts or {}).get('non_finite', 0)} non-finite scores dropped)")
        return jsonable(out)
    groups = scores["speaker"].astype(str).to_numpy() if group_by_speaker else None
    eer = bootstrap.bootstrap({"eer": bootstrap.eer_stat(s, y)}, y, n_boot=n_boot, seed=seed, groups=groups)["eer"]
    out["eer"] = {k: eer[k] for k in ("value", "ci_low", "ci_high")}
    try:
        paired = paired_comparison(scores, clean, metrics=("eer",), n_boot=n_boot, seed=seed,
                                   group_by_speaker=group_by_speaker)
        d = paired["metrics"]["eer"]
        out["d_eer"] = {"value": d["diff"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                        "clean_eer_same_clips": d["b"], "sign_flip_share": d["sign_flip_share"]}
        out["n_paired"] = paired["n"]
    except ValueError as err:  # e.g. the shared clips lack a class
        out["d_eer"] = None
        out["paired_skip"] = str(err)
    return jsonable(out)


def run_cell(spec: dict, run_dir: str, manifest: str, shards: dict[str, list[str]], clean_scores: str,
             outputs: dict[str, tuple[str, str]], evaluation: dict, seed: int, threads: int = 1) -> list[dict]:
    """Score + evaluate one (cell, eval dataset) under every condition: the workflow's job
    body. ``shards`` and ``outputs`` map condition -> feature shards / (scores, metrics) paths."""
    from scaa.manifest import read as read_manifest
    from scaa.registry import load_plugins
    from scaa.threads import limit_threads
    from scaa.heads.build import build_head

    if set(shards) != set(outputs):
        raise ValueError(f"conditions with shards {sorted(shards)} != conditions with outputs {sorted(outputs)}")
    load_plugins(spec.get("plugins"))
    limit_threads(threads)
    rows = read_manifest(manifest)
    rows = rows[rows["split"] == "eval"]
    head = build_head(spec, run_dir) if shards else None
    clean = pd.read_parquet(clean_scores)
    results = []
    for condition in sorted(shards):
        scores_path, metrics_path = outputs[condition]
        counts = score_condition(head, rows, shards[condition], scores_path)
        res = evaluate_condition(condition, pd.read_parquet(scores_path), clean,
                                 n_boot=int(evaluation.get("n_boot", 1000)), seed=seed,
                                 group_by_speaker=bool(evaluation.get("group_by_speaker", False)), counts=counts)
        Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
        Path(metrics_path).write_text(json.dumps(res, indent=1))
        results.append(res)
    return results


# ---------------------------------------------------------------- the matrix
def condition_paths(run_dir: str, eval_dataset: str, condition: str) -> tuple[str, str]:
    base = f"{run_dir}/robustness/{condition}"
    return f"{base}/scores/{eval_dataset}.parquet", f"{base}/metrics/{eval_dataset}.json"


def worst_condition(table: pd.DataFrame, cell: dict, eval_dataset: str) -> dict | None:
    """The condition with the highest EER for one cell and eval set (skips ignored)."""
    t = table[table["eval_dataset"].astype(str) == str(eval_dataset)]
    for k in RUN_AXES:
        t = t[t[k].astype(str) == str(cell[k])]
    t = t[(t["condition"] != "clean") & (t["status"] == "ok")].dropna(subset=["eer"])
    if not len(t):
        return None
    return t.sort_values(["eer", "condition"], ascending=[False, True]).iloc[0].to_dict()
