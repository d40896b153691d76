"""Feature shards on disk: write, read and concatenate them.

A shard is an ``.npz`` file (no pickle) holding ``utt_id`` plus either a pooled matrix
``X`` [N, D] or concatenated frames ``frames`` [sum T, D] with ``offsets``.

Frame-level caches are float16 (they are large and only feed training); pooled
vectors stay float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass
class Features:
    """Features of a set of clips, aligned with ``utt_id``.

    ``X`` is an ndarray [N, D] for pooled features or a list of [T_i, D] arrays for frames.
    """
    utt_id: np.ndarray
    X: np.ndarray | list
    output: str = "pooled"
    y: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.utt_id)

    def subset(self, idx: np.ndarray) -> "Features":
        idx = np.asarray(idx)
        X = self.X[idx] if self.output == "pooled" else [self.X[i] for i in idx]
        return Features(self.utt_id[idx], X, self.output, None if self.y is None else self.y[idx],
                        dict(self.meta))

    @property
    def dim(self) -> int:
        if self.output == "pooled":
            return int(self.X.shape[1])
        return int(self.X[0].shape[1]) if len(self.X) else 0


def save(path: str | Path, utt_ids: Sequence[str], feats: Sequence[np.ndarray], output: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = np.asarray(list(utt_ids), dtype=str)
    if output == "pooled":
        dim = feats[0].shape[-1] if len(feats) else 0
        X = np.stack(feats).astype(np.float32) if len(feats) else np.zeros((0, dim), np.float32)
        np.savez(path, utt_id=ids, X=X, output=np.asarray("pooled"))
    elif output == "frames":
        lengths = np.asarray([f.shape[0] for f in feats], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        frames = np.concatenate(feats).astype(np.float16) if len(feats) else np.zeros((0, 0), np.float16)
        np.savez(path, utt_id=ids, frames=frames, offsets=offsets, output=np.asarray("frames"))
    else:
        raise ValueError(f"unknown feature output {output!r}")


def load(paths: Sequence[str | Path]) -> Features:
    """Concatenate shards (in the order given)."""
    ids, pooled, frames, output = [], [], [], None
    for p in paths:
        with np.load(p, allow_pickle=False) as z:
            kind = str(z["output"])
            if output is not None and kind != output:
                raise ValueError(f"{p}: mixes {kind} with {output} shards")
            output = kind
            ids.append(z["utt_id"])
            if kind == "pooled":
                pooled.append(z["X"])
            else:
                data, off = z["frames"], z["offsets"]
                frames.extend(data[off[i]:off[i + 1]] for i in range(len(off) - 1))
    if output is None:
        raise ValueError("no feature shards given")
    utt = np.concatenate(ids) if ids else np.zeros(0, dtype=str)
    if output == "pooled":
        nonempty = [x for x in pooled if x.size] or pooled[:1]
        return Features(utt, np.concatenate(nonempty) if nonempty else np.zeros((0, 0), np.float32))
    return Features(utt, frames, output="frames")


def align(features: Features, utt_ids: Sequence[str]) -> Features:
    """Reorder/select to ``utt_ids``; every requested id must be present."""
    index = {u: i for i, u in enumerate(features.utt_id)}
    missing = [u for u in utt_ids if u not in index]
    if missing:
        raise KeyError(f"{len(missing)} clips have no features, e.g. {missing[:3]}")
    return features.subset(np.fromiter((index[u] for u in utt_ids), dtype=np.int64, count=len(utt_ids)))


def concat(sets: Sequence[Features]) -> Features:
    """One feature set from several of the same kind, in order; augmented views
    (``meta["views"]``) are joined view by view, so every set must carry the same views."""
    if not sets:
        raise ValueError("no feature sets to join")
    output = sets[0].output
    if any(s.output != output for s in sets):
        raise ValueError(f"cannot join {sorted({s.output for s in sets})} features")
    X = np.concatenate([np.asarray(s.X) for s in sets]) if output == "pooled" else [x for s in sets for x in s.X]
    y = None if any(s.y is None for s in sets) else np.concatenate([np.asarray(s.y) for s in sets])
    out = Features(np.concatenate([s.utt_id for s in sets]), X, output, y, {})
    names = [tuple((s.meta or {}).get("views") or {}) for s in sets]
    if any(n != names[0] for n in names):
        raise ValueError(f"feature sets carry different views: {sorted(set(names))}")
    if names[0]:
        out.meta["views"] = {v: concat([s.meta["views"][v] for s in sets]) for v in names[0]}
    return out


def with_views(train: Features) -> Features:
    """Anchor plus every extra view (``train.meta["views"]``) as one training set: how
    heads without a contrastive term use augmented views (as extra rows)."""
    views = list((train.meta or {}).get("views", {}).values())
    if not views:
        return train
    sets = [train, *views]
    if train.output == "pooled":
        X = np.concatenate([np.asarray(s.X) for s in sets])
    else:
        X = [x for s in sets for x in s.X]
    return Features(np.concatenate([s.utt_id for s in sets]), X, train.output,
                    np.tile(np.asarray(train.y), len(sets)), {})
