"""Score fusion as a workflow stage: fit a fusion cell on its members' dev scores, and score eval sets with it.

The fuser itself (fitted on dev only, then scored, calibrated and bootstrapped like any
cell) is :mod:`scaa.fuser`; which cells a fusion combines is :mod:`scaa.workflow.fusion_grid`.

A fusion cell lives in ``results/fusions/<name>/seed<seed>/`` (fusion.json,
dev_scores.parquet, scores/<eval>.parquet, metrics/<eval>.json). Its dev EER is an
in-sample figure (the fuser was fitted on those clips); eval is the honest number.
"""
from __future__ import annotations

import json
from pathlib import Path

from scaa import modeldir
from scaa.fuser import FUSION_FILE, apply, fit


def fit_cell(spec: dict, dev_paths: list[str], out_dir: str | Path) -> dict:
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = [pd.read_parquet(p) for p in dev_paths]
    fusion = fit(spec["members"], frames, spec.get("prior", 0.5), spec.get("l2", 1e-4))
    fusion.update({"name": spec["name"], "seed": spec["seed"]})
    (out_dir / FUSION_FILE).write_text(json.dumps(fusion, indent=1))
    apply(fusion, frames).to_parquet(out_dir / "dev_scores.parquet", index=False)
    modeldir.seal(out_dir)  # a fusion directory is a model directory: verified before use
    return fusion


def score_cell(fusion_path: str | Path, member_paths: list[str], out_path: str | Path) -> int:
    import pandas as pd

    fusion = json.loads(Path(fusion_path).read_text())
    scores = apply(fusion, [pd.read_parquet(p) for p in member_paths])
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(out_path, index=False)
    return len(scores)
