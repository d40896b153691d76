"""Glue for workflow scripts: send logs to the job's log file and cap threads."""
from __future__ import annotations

import logging
import os
import sys


def setup(smk, name: str) -> logging.Logger:
    threads = int(getattr(smk, "threads", 1) or 1)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if smk.log:
        os.makedirs(os.path.dirname(str(smk.log[0])) or ".", exist_ok=True)
        stream = open(str(smk.log[0]), "w", buffering=1)
        sys.stderr = stream
        handler = logging.StreamHandler(stream)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass
    from scaa.registry import load_plugins

    # the config's plugin modules, in every job (deliberately not a param: adding a
    # plugin must not invalidate jobs that do not use it)
    load_plugins((getattr(smk, "config", None) or {}).get("plugins"))
    return logging.getLogger(f"scaa.{name}")
