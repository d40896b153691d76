"""Optional dependencies: which extra brings which package, and a clear error when it is missing.

The core install (``pip install -e .``) runs the workflow. Packages only some users need
live in extras of ``pyproject.toml``; code that needs one calls :func:`require`, so a
missing package is reported with the extra that installs it instead of a bare
``ModuleNotFoundError`` deep inside a job. ``tests/test_dependencies.py`` checks this
table against ``pyproject.toml``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

# top-level module -> extra of pyproject.toml that installs it
EXTRA_OF = {
    "optuna": "tune",
    "sqlalchemy": "tune",
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "python_multipart": "serve",
    "fastapi_offline": "serve",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "codecarbon": "energy",
}


class MissingExtra(ImportError):
    """An optional package is not installed; the message names the extra that brings it."""


def install_hint(extra: str) -> str:
    return f"pip install 'scaa[{extra}]' (in a checkout: pip install -e '.[{extra}]')"


def require(module: str) -> ModuleType:
    """Import ``module`` (dotted names allowed) or raise :class:`MissingExtra` naming its extra."""
    top = module.split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        raise KeyError(f"{top} is not an optional dependency; import it directly")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and err.name.split(".")[0] != top:
            raise  # the package is there but one of its own dependencies is broken
        raise MissingExtra(f"{top} is not installed; it comes with the '{extra}' extra: {install_hint(extra)}",
                           name=top) from err
