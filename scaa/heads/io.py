"""Saving heads without pickle: arrays to safetensors, everything else to JSON."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

WEIGHTS = "model.safetensors"
META = "model.json"


def save_arrays(run_dir: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(run_dir / WEIGHTS))
    (run_dir / META).write_text(json.dumps(meta, indent=2, sort_keys=True))


def load_arrays(run_dir: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    run_dir = Path(run_dir)
    return load_file(str(run_dir / WEIGHTS)), json.loads((run_dir / META).read_text())
