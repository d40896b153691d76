import numpy as np
import pytest

from scaa.batching import length_buckets, padded_fraction


def test_buckets_cover_every_index_once_and_respect_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(8000, 96000, size=200)
    budget = 16000 * 32
    batches = length_buckets(lengths, budget)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(200))
    for b in batches:
        assert len(b) * lengths[b].max() <= budget


def test_buckets_group_similar_lengths_and_waste_less_than_global_padding():
    rng = np.random.default_rng(1)
    lengths = rng.integers(16000, 6 * 16000, size=300)
    batches = length_buckets(lengths, 16000 * 32)
    naive = [list(range(i, min(i + 8, 300))) for i in range(0, 300, 8)]
    assert padded_fraction(lengths, batches) < 0.05
    assert padded_fraction(lengths, batches) < padded_fraction(lengths, naive) / 3
    # consecutive batches are ordered by length
    maxes = [lengths[b].max() for b in batches]
    mins = [lengths[b].min() for b in batches]
    assert all(mx <= mn for mx, mn in zip(maxes[:-1], mins[1:]))


def test_oversized_clip_gets_its_own_batch_and_max_batch_size():
    batches = length_buckets([10, 10, 500, 10], max_batch_samples=100)
    assert [2] in batches
    assert length_buckets([1] * 10, 1000, max_batch_size=3) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_deterministic_with_ties():
    lengths = [5, 3, 5, 3, 5]
    assert length_buckets(lengths, 12) == length_buckets(list(lengths), 12) == [[1, 3], [0, 2], [4]]


def test_bad_input():
    with pytest.raises(ValueError):
        length_buckets([1, 2], 0)
    with pytest.raises(ValueError):
        length_buckets([-1], 10)
    assert length_buckets([], 10) == []
