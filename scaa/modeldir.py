"""A trained cell's directory is data: sealed with checksums, read without running code.

When training finishes, :func:`seal` records the SHA-256 of every file a detector reads
(weights, their JSON description, the cell spec, the dev scores calibration comes from)
in ``checksums.json``; ``scaa export`` adds the ONNX graph and its description
(:func:`add`). :func:`verify` checks them before anything is deserialised, so a flipped
byte or an edited spec is an error naming the file, not a silently different model, and a
file a loader reads that the record does not list is refused too. :func:`check_plugins` enforces that the plugin modules a model names are imported
only when the *user* allows them, and never from inside the model directory.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

CHECKSUMS = "checksums.json"
SEALED_FILES = ("model.safetensors", "model.json", "config.yaml", "dev_scores.parquet", "fusion.json")
EXPORTED_FILES = ("model.onnx", "model.onnx.json")
READ_FILES = SEALED_FILES + EXPORTED_FILES
"""Every file of a model directory that a loader reads: each one present must be recorded."""


class ModelDirError(RuntimeError):
    """The directory cannot be used as a model: missing, changed or unreadable files."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def seal(run_dir: str | Path) -> dict:
    """Write ``checksums.json`` for the sealed files present in ``run_dir``."""
    run_dir = Path(run_dir)
    files = {name: sha256(run_dir / name) for name in SEALED_FILES if (run_dir / name).is_file()}
    record = {"algorithm": "sha256", "files": files}
    (run_dir / CHECKSUMS).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def verify(run_dir: str | Path) -> dict:
    """Check every recorded file against its SHA-256; raise :class:`ModelDirError` naming
    the first file that is missing or changed."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKSUMS
    if not path.is_file():
        raise ModelDirError(f"{path}: missing; the directory was not sealed when it was trained, so its files "
                            "cannot be checked (retrain the cell)")
    try:
        record = json.loads(path.read_text())
        files = dict(record["files"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelDirError(f"{path}: unreadable checksum record ({err})") from err
    for name, expected in sorted(files.items()):
        if Path(name).name != name:  # the record names files of this directory only
            raise ModelDirError(f"{path}: bad file name {name!r}")
        target = run_dir / name
        if not target.is_file():
            raise ModelDirError(f"{target}: missing (recorded in {CHECKSUMS})")
        if sha256(target) != expected:
            raise ModelDirError(f"{target}: changed since training (SHA-256 differs from {CHECKSUMS})")
    for name in READ_FILES:
        if (run_dir / name).is_file() and name not in files:
            raise ModelDirError(f"{run_dir / name}: not covered by {CHECKSUMS} (a loader reads it, so its "
                                "record must list it)")
    return record


def add(run_dir: str | Path, names: list[str] | tuple) -> dict:
    """Record more files (``scaa export``'s graph) in a sealed directory, after checking the
    files already recorded: a changed model is never sealed anew."""
    run_dir = Path(run_dir)
    unchecked = set(names)
    path = run_dir / CHECKSUMS
    record = json.loads(path.read_text()) if path.is_file() else None
    if record is None:
        raise ModelDirError(f"{path}: missing; the directory was not sealed when it was trained (retrain the cell)")
    files = dict(record.get("files") or {})
    for name in sorted(files):  # verify() minus the new names, which may be unrecorded or stale
        if name in unchecked:
            continue
        target = run_dir / name
        if not target.is_file() or sha256(target) != files[name]:
            raise ModelDirError(f"{target}: missing or changed since training; not sealing new files beside it")
    for name in names:
        if Path(name).name != name or not (run_dir / name).is_file():
            raise ModelDirError(f"{run_dir / name}: not a file of the directory")
        files[name] = sha256(run_dir / name)
    record["files"] = files
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def check_plugins(required: list[str] | None, allowed: list[str] | tuple = (), run_dir: str | Path = ".") -> list[str]:
    """The plugin modules to import for a model that names ``required``: each must be in the
    user's ``allowed`` list, and must not resolve to a file inside ``run_dir``."""
    if required is not None and not isinstance(required, (list, tuple)):  # a string would be split into letters
        raise ModelDirError(f"{Path(run_dir) / 'config.yaml'}: plugins must be a list of module names, "
                            f"got {required!r}")
    required = [str(m) for m in (required or [])]
    refused = [m for m in required if m not in set(allowed or ())]
    if refused:
        names = ", ".join(refused)
        flags = " ".join(f"--allow-plugin {m}" for m in refused)
        raise ModelDirError(
            f"{Path(run_dir) / 'config.yaml'}: the model names plugin module(s) {names}; a model directory is data "
            f"and never imports code by itself. If you trust {names}, allow it: {flags} (or "
            f"detect: {{allow_plugins: [{names}]}} in your config)")
    inside = Path(run_dir).resolve()
    for module in required:
        top = module.split(".")[0]  # finding the top level imports nothing
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError) as err:
            raise ModelDirError(f"allowed plugin module {module!r} cannot be found: {err}") from err
        if spec is None:
            raise ModelDirError(f"allowed plugin module {module!r} is not installed or not on PYTHONPATH")
        places = [spec.origin] if spec.origin and spec.origin not in ("built-in", "frozen") else []
        places += list(spec.submodule_search_locations or [])
        for place in places:
            if Path(place).resolve().is_relative_to(inside):
                raise ModelDirError(f"plugin module {module!r} resolves to {place}, inside the model directory; "
                                    "code is never imported from a model directory")
    return required
