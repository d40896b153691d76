"""Score an evaluation dataset with a trained cell (the evaluate stage's first job).

The cell's head is loaded from its run directory and applied to the cached features of
the dataset's eval split; the scores go to ``<run dir>/scores/<eval set>.parquet``, which
:mod:`scaa.workflow.evaluate` turns into metrics.
"""
from __future__ import annotations

from pathlib import Path

from scaa.manifest import read as read_manifest
from scaa.registry import load_plugins
from scaa.threads import limit_threads
from scaa.workflow.train import build_head, features_for, score_rows


def score_dataset(spec: dict, run_dir: str | Path, manifest_path: str, shards: list[str], out_path: str,
                  split: str = "eval", threads: int = 1) -> int:
    """Score one evaluation dataset's ``split`` with a trained cell; returns the clip count."""
    load_plugins(spec.get("plugins"))
    limit_threads(threads)
    manifest = read_manifest(manifest_path)
    rows = manifest[manifest["split"] == split]
    feats, rows = features_for(rows, shards)
    head = build_head(spec, run_dir)
    scores = score_rows(head, feats, rows)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(out_path, index=False)
    return len(scores)
