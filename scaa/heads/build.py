"""Build a cell's head from its spec: fresh for training, or the trained one loaded from its run directory."""
from __future__ import annotations

from pathlib import Path

from scaa.registry import HEADS


def build_head(spec: dict, run_dir: str | Path | None = None):
    """Fresh head for a cell (or, with run_dir, the trained one loaded from disk), built
    from the cell's head spec; :func:`scaa.workflow.train.train_cell` sets the cell's seed and loss on it."""
    head_spec = dict(spec["head"])
    params = {k: v for k, v in head_spec.items() if k != "type"}
    freeze = spec.get("freeze", "frozen")
    if freeze != "frozen":
        from scaa.encoders.build import build_encoder
        from scaa.heads.topk import TopKHead

        top = build_encoder(spec["encoder"]).top_layers(int(freeze[3:]))
        return TopKHead.load(run_dir, top=top, **params) if run_dir is not None else TopKHead(top=top, **params)
    cls = HEADS.get(head_spec["type"])
    return cls.load(run_dir, **params) if run_dir is not None else cls(**params)
