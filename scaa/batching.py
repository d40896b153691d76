"""Length bucketing: batch clips of similar length so padding stays small.

Padding every batch to the globally longest clip wastes most of the compute when
lengths vary (the original extractor's problem); sorting by length and cutting runs
whose *padded* size (batch size x longest clip) fits a budget keeps waste low.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def length_buckets(lengths: Sequence[int], max_batch_samples: int,
                   max_batch_size: int | None = None) -> list[list[int]]:
    """Indices into ``lengths`` grouped into batches, shortest clips first.

    Each batch satisfies ``len(batch) * max(lengths[batch]) <= max_batch_samples``,
    except a single clip longer than the budget, which gets a batch of its own.
    Ties are broken by index (stable sort), so the result is deterministic.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1:
        raise ValueError("lengths must be a 1-d sequence")
    if max_batch_samples <= 0:
        raise ValueError("max_batch_samples must be positive")
    if max_batch_size is not None and max_batch_size <= 0:
        raise ValueError("max_batch_size must be positive or None")
    if (lengths < 0).any():
        raise ValueError("lengths must be non-negative")
    order = np.argsort(lengths, kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    for idx in order:
        n = int(lengths[idx])  # sorted ascending: this clip is the longest so far
        too_big = (len(current) + 1) * n > max_batch_samples
        too_many = max_batch_size is not None and len(current) >= max_batch_size
        if current and (too_big or too_many):
            batches.append(current)
            current = []
        current.append(int(idx))
    if current:
        batches.append(current)
    return batches


def padded_fraction(lengths: Sequence[int], batches: list[list[int]]) -> float:
    """Share of the padded compute that is padding (0 = none wasted)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    padded = sum(len(b) * int(lengths[b].max()) for b in batches if b)
    return 1.0 - float(lengths.sum()) / padded if padded else 0.0
