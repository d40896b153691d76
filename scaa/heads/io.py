"""Saving heads without pickle: arrays to safetensors, everything else to JSON.

Loading names the file on any problem (unreadable, wrong head type, missing tensor), so a
damaged model directory is an error a user can act on, not a traceback from a parser.
"""
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


class ModelFileError(ValueError):
    """A head's files are missing, unreadable or describe another head."""


class _Arrays(dict):
    """Tensors of one file; a missing name is an error naming the file."""

    def __init__(self, data, path: Path):
        super().__init__(data)
        self.path = path

    def __missing__(self, key):
        raise ModelFileError(f"{self.path}: no tensor {key!r} (has {sorted(self)[:8]})")


def load_arrays(run_dir: str | Path, head: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """(tensors, metadata) of a saved head; with ``head``, ``model.json`` must say it is one."""
    run_dir = Path(run_dir)
    weights, meta_path = run_dir / WEIGHTS, run_dir / META
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{meta_path}: cannot read the head description ({err})") from err
    if not isinstance(meta, dict):
        raise ModelFileError(f"{meta_path}: expected a JSON object, found {type(meta).__name__}")
    if head is not None and meta.get("head") != head:
        raise ModelFileError(f"{meta_path}: describes a {meta.get('head')!r} head, not {head!r}")
    try:
        arrays = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error types for bad headers/data
        raise ModelFileError(f"{weights}: cannot read the weights ({type(err).__name__}: {err})") from err
    return _Arrays(arrays, weights), meta
