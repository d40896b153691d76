"""The torch heads' data pipeline: features standardised to float32 and collated into padded batches.

Frame features (float16 in the feature cache) up to :data:`PRECONVERT_BYTES` as float32
are converted and standardised once per fit; larger data is converted per batch
(:class:`BatchData`). Both give the same values to the bit (tests/test_heads.py).
"""
from __future__ import annotations

import numpy as np
import torch

from scaa.featstore import Features

PRECONVERT_BYTES = 512 << 20  # frame data up to this size (as float32) is standardised once per fit


def preconverts(feats: list[Features]) -> bool:
    """Whether data this large is converted and standardised once (not per batch)."""
    return frame_bytes(feats) <= PRECONVERT_BYTES


class BatchData:
    """Features as standardised float32, ready to batch; ``collate(idx)`` -> (x, mask).

    Frame features (float16 in the feature cache) up to :data:`PRECONVERT_BYTES` as float32
    are converted and standardised once, into one [total frames, D] array, so a batch is
    slice copies into a zero buffer (the standardised padding value): every epoch
    re-batches the same clips, and converting and standardising per batch costs about a
    tenth of an ``attn`` epoch on scaa-dev. Larger data (a full corpus) is converted per
    batch instead, so training holds no float32 copy of it. Both give the same values to
    the bit (tests/test_heads.py)."""

    def __init__(self, feats: Features, mean: np.ndarray | None, std: np.ndarray | None, pad_to: int = 1,
                 preconvert: bool | None = None):
        """``preconvert``: standardise once (True) or per batch (False); None decides by size.
        Data batched together (``collate(idx, other)``) must share the choice."""
        self.output = feats.output
        self.pad_to = max(1, int(pad_to))
        self.mean = None if mean is None else torch.from_numpy(np.asarray(mean, np.float32))
        self.std = None if std is None else torch.from_numpy(np.asarray(std, np.float32))
        if self.output == "pooled":
            x = torch.from_numpy(np.ascontiguousarray(feats.X, dtype=np.float32))
            if x.dim() != 2:
                raise ValueError(f"pooled features must be [N, D], got shape {tuple(x.shape)}")
            self.x = self._standardise(x)
            self.lengths = None
            if not bool(torch.isfinite(self.x).all()):
                raise ValueError("features contain NaN or inf")
            return
        frames = list(feats.X)
        self.lengths = np.asarray([len(a) for a in frames], dtype=np.int64)
        if len(frames) and (self.lengths.min() < 1 or any(a.ndim != 2 for a in frames)):
            raise ValueError("frame features must be non-empty [T, D] arrays")
        dims = {a.shape[1] for a in frames}
        if len(dims) > 1:
            raise ValueError("frame features must all have the same dimension D")
        if not all(np.isfinite(a).all() for a in frames):
            raise ValueError("features contain NaN or inf")
        self.dim = dims.pop() if dims else 0
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.flat = self.clips = None
        if preconvert is None:
            preconvert = preconverts([feats])
        if preconvert:
            self.flat = np.concatenate(frames, dtype=np.float32) if frames else np.zeros((0, 0), np.float32)
            if self.mean is not None:
                torch.from_numpy(self.flat).sub_(self.mean).div_(self.std)  # in place, as _standardise
        else:
            self.clips = [torch.from_numpy(np.asarray(a)) for a in frames]  # views: no copy

    def _standardise(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else (x - self.mean) / self.std

    def __len__(self) -> int:
        return int(self.x.shape[0]) if self.output == "pooled" else len(self.lengths)

    def collate(self, idx: np.ndarray, other: "BatchData | None" = None):
        """Rows ``idx`` of self (and then the same rows of ``other``) as one batch."""
        sources = [self] if other is None else [self, other]
        if self.output == "pooled":
            t = torch.from_numpy(np.asarray(idx, dtype=np.int64))
            parts = [torch.index_select(s.x, 0, t) for s in sources]
            return (parts[0] if len(parts) == 1 else torch.cat(parts)), None
        lengths = np.concatenate([s.lengths[idx] for s in sources])
        T = int(lengths.max())
        T += -T % self.pad_to
        mask = torch.from_numpy(np.arange(T) < lengths[:, None])
        rows = [(s, i) for s in sources for i in idx]
        if len({s.flat is None for s in sources}) > 1:
            raise ValueError("data batched together must all be pre-converted or all not")
        if self.flat is not None:
            x = np.zeros((len(rows), T, self.dim), np.float32)  # the mean standardises to 0
            for b, (s, i) in enumerate(rows):
                x[b, :lengths[b]] = s.flat[s.offsets[i]:s.offsets[i + 1]]
            return torch.from_numpy(x), mask
        x = torch.empty(len(rows), T, self.dim)
        for b, (s, i) in enumerate(rows):
            x[b, :lengths[b]] = s.clips[i]  # converts to float32
            x[b, lengths[b]:] = 0.0 if self.mean is None else self.mean  # standardises to 0
        if self.mean is not None:
            x.sub_(self.mean).div_(self.std)  # in place, as _standardise
        return x, mask


class Collated:
    """Scoring batches (idx, x, mask) of ``data`` for the row index lists ``batches``,
    collated anew on each pass (for large data)."""

    def __init__(self, data: BatchData, batches: list[np.ndarray]):
        self.data, self.batches = data, batches

    def __iter__(self):
        return ((idx, *self.data.collate(idx)) for idx in self.batches)


def frame_bytes(feats: list[Features]) -> int:
    """Bytes the frames of ``feats`` take as float32 (0 for pooled features)."""
    return sum(sum(int(np.prod(a.shape)) for a in f.X) * 4 for f in feats if f.output == "frames")


def feature_stats(feats: list[Features]) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean/std over all rows (pooled) or all frames, float64 accumulation."""
    n, s, ss = 0, 0.0, 0.0
    for f in feats:
        X = f.X if f.output != "pooled" else [f.X[i:i + 4096] for i in range(0, len(f.X), 4096)]
        for a in X:  # chunks bound the float64 copies
            a = np.asarray(a, dtype=np.float64)
            n, s, ss = n + a.shape[0], s + a.sum(0), ss + np.einsum("ij,ij->j", a, a)
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean ** 2, 0.0))
    std[std < 1e-8] = 1.0  # constant dimensions pass through unscaled
    return mean.astype(np.float32), std.astype(np.float32)


def concat_features(rows: list[Features]) -> Features:
    """The rows of several Features (same output kind) as one."""
    if len(rows) == 1:
        return rows[0]
    if rows[0].output == "pooled":
        X = np.concatenate([np.asarray(r.X) for r in rows])
    else:
        X = [a for r in rows for a in r.X]
    return Features(np.concatenate([np.asarray(r.utt_id) for r in rows]), X, rows[0].output)
