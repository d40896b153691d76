"""Cap the thread pools one job may use, so parallel jobs do not oversubscribe the cores.

Three places decide how many threads numerical code runs: the BLAS / OpenMP pools already
loaded (capped through threadpoolctl), torch's intra-op pool, and the environment
variables a child process or a not-yet-loaded library reads at start-up.
"""
from __future__ import annotations

import os
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_env(n: int) -> dict[str, str]:
    """The environment variables that start a child process (or a library loaded later)
    with ``n`` BLAS / OpenMP threads."""
    return {var: str(int(n)) for var in THREAD_VARS}


def limit_threads(n: int) -> None:
    """Run this process's numerical code on at most ``n`` threads from now on."""
    n = max(1, int(n))
    os.environ.update(thread_env(n))
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    # torch sizes its intra-op pool from OMP_NUM_THREADS when it is first imported, so a
    # job that never needs torch (a logreg cell, spectral features) does not import it here
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
