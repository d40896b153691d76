"""Reproducible training without touching the process's global random state.

A head's ``random_state`` seeds everything random in its ``fit``: a local
``np.random.Generator`` for data order and subsampling, and torch's default generator
(module initialisation and dropout draw from it, and neither takes a generator argument)
inside :func:`scoped_seed`, which forks it and restores it on exit. Deterministic torch
kernels are switched on for the same block and the previous setting is put back, so the
same seed gives the same scores (bit-identical on the same machine and thread count)
and a caller's own seeding and determinism setting survive a ``fit``.
"""
from __future__ import annotations

import contextlib
import numbers
from typing import Iterator

import numpy as np


def as_seed(random_state) -> int:
    """An int seed from ``random_state``: an int as is; None draws fresh entropy (a
    different model each fit); a numpy Generator / RandomState gives its next integer."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    raise ValueError(f"random_state must be an int, None or a numpy Generator/RandomState, "
                     f"not {random_state!r}")


@contextlib.contextmanager
def scoped_seed(seed: int) -> Iterator[np.random.Generator]:
    """Inside the block: torch's default CPU generator seeded with ``seed`` and deterministic
    algorithms on; on exit both are restored. Yields a numpy Generator seeded the same way.

    The fork is of the process-wide generator, so two fits running in threads of one
    process at the same time would interleave their draws; run them in processes."""
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        # Determinism comes from the kernels chosen above. Filling every new tensor with NaN
        # (torch's default in this mode) only flags kernels that read memory they never
        # wrote, and costs a full extra write of every allocation (bench/results/cnn_train_lcnn.md).
        torch.utils.deterministic.fill_uninitialized_memory = False
        try:
            yield np.random.default_rng(seed)
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            torch.utils.deterministic.fill_uninitialized_memory = fill
