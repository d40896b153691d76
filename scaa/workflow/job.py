"""Start-up of a Snakemake ``script:`` job: its log file, its thread cap, the config's plugins."""
from __future__ import annotations

import logging
import os
import sys

from scaa.threads import limit_threads


def setup(smk, name: str) -> logging.Logger:
    """Send logging (and stderr) to the rule's log file, cap threads at the rule's
    ``threads:``, import the config's ``plugins:``; returns the job's logger."""
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
    limit_threads(int(getattr(smk, "threads", 1) or 1))
    from scaa.registry import load_plugins

    # the config's plugin modules, in every job (deliberately not a param: adding a
    # plugin must not invalidate jobs that do not use it)
    load_plugins((getattr(smk, "config", None) or {}).get("plugins"))
    return logging.getLogger(f"scaa.{name}")
