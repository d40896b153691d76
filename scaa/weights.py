"""Pinned pretrained weight files: find, fetch or download them, and check each against its SHA-256.

A variant (``"aasist"``, ``"aasist_l"``) names one file the project pins by hash. ``resolve``
returns a path only after the file's SHA-256 matched the pin, so nothing downstream ever
unpickles a file it did not expect. Where a file is looked for, in order:

1. an explicit ``path`` (a file, or a directory holding the file), e.g. a model config's
   ``weights: PATH``;
2. ``weights_dir()/<file>``: ``$SCAA_WEIGHTS_DIR``, else ``$XDG_CACHE_HOME/scaa/weights``,
   else ``~/.cache/scaa/weights``;
3. a download of the pinned URL into ``weights_dir()`` (once; to a temporary file in that
   directory, checked, then renamed into place), unless ``download=False`` or the process
   is offline (``SCAA_OFFLINE=1``, or ``HF_HUB_OFFLINE=1`` when ``SCAA_OFFLINE`` is unset).

Every failure is a ``WeightsError`` (a ``ValueError``) that says how to get the file.
The weights are never part of the repository: they live in the user's cache or a
directory the user names.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

CHUNK = 1 << 20  # bytes read at a time when hashing
DOWNLOAD_TIMEOUT_S = 60.0
_AASIST_URL = "https://github.com/clovaai/aasist/raw/main/models/weights/"
_AASIST_SOURCE = "clovaai/aasist, trained by its authors on ASVspoof 2019 LA train (25,380 clips)"
_AASIST_LICENCE = "MIT, Copyright (c) 2021-present NAVER Corp."


@dataclass(frozen=True)
class WeightFile:
    """One pinned file: ``name`` (the variant), ``file`` (its file name), ``sha256``,
    ``url`` (where it is downloaded from), ``source`` (who trained it on what), ``licence``."""

    name: str
    file: str
    sha256: str
    url: str
    source: str
    licence: str


PINNED: dict[str, WeightFile] = {
    "aasist": WeightFile(
        name="aasist", file="AASIST.pth",
        sha256="51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0",
        url=_AASIST_URL + "AASIST.pth", source=_AASIST_SOURCE, licence=_AASIST_LICENCE),
    "aasist_l": WeightFile(
        name="aasist_l", file="AASIST-L.pth",
        sha256="814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a",
        url=_AASIST_URL + "AASIST-L.pth", source=_AASIST_SOURCE, licence=_AASIST_LICENCE),
}


class WeightsError(ValueError):
    """A pinned weight file is unknown, missing, or not the file the pin names."""


def weights_dir() -> Path:
    """Where fetched and downloaded weights live: ``$SCAA_WEIGHTS_DIR``, else
    ``$XDG_CACHE_HOME/scaa/weights``, else ``~/.cache/scaa/weights``."""
    if os.environ.get("SCAA_WEIGHTS_DIR"):
        return Path(os.environ["SCAA_WEIGHTS_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache).expanduser() / "scaa" / "weights"


def offline() -> str | None:
    """The environment variable that forbids downloads (``SCAA_OFFLINE=1``; with it unset,
    ``HF_HUB_OFFLINE=1``, the switch the project's tests already set), or None."""
    for var in ("SCAA_OFFLINE", "HF_HUB_OFFLINE"):
        value = os.environ.get(var)
        if value is not None and value.strip() != "":
            return var if value.strip().lower() in ("1", "true", "yes", "on") else None
    return None


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# (absolute path, mtime_ns, size) -> sha256: a file verified once is not hashed again in
# this process unless it changed
_HASHES: dict[tuple[str, int, int], str] = {}


def _cached_sha256(path: Path) -> str:
    st = path.stat()
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    if key not in _HASHES:
        _HASHES[key] = sha256_of(path)
    return _HASHES[key]


def _pin(variant: str) -> WeightFile:
    if variant not in PINNED:
        raise WeightsError(f"unknown weights variant {variant!r}; known: {', '.join(sorted(PINNED))}")
    return PINNED[variant]


def _verify(path: Path, pin: WeightFile) -> Path:
    actual = _cached_sha256(path)
    if actual != pin.sha256:
        raise WeightsError(f"{path} is not the pinned {pin.file} of weights {pin.name!r}: "
                           f"SHA-256 {actual}, expected {pin.sha256} (the file was not loaded)")
    return path


def _how_to_get(pin: WeightFile) -> str:
    return (f"Get {pin.file} ({pin.licence}) from {pin.url}, then either run "
            f"`scaa weights fetch {pin.name} --from DIR` (DIR holding {pin.file}), "
            f"or set SCAA_WEIGHTS_DIR to DIR, or give the file in the model config as `weights: PATH`.")


def _explicit(pin: WeightFile, path: str | os.PathLike) -> Path:
    given = Path(os.path.abspath(Path(path).expanduser()))
    target = given / pin.file if given.is_dir() else given
    if not target.is_file():
        where = f"{target} (in directory {given})" if given.is_dir() else str(target)
        raise WeightsError(f"weights {pin.name!r}: {where} does not exist. {_how_to_get(pin)}")
    return _verify(target, pin)


def resolve(variant: str, path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The checked path of ``variant``'s weight file.

    ``path`` (a file, or a directory holding the pinned file name) is used when given;
    otherwise ``weights_dir()/<file>``; otherwise, if ``download``, the pinned URL is
    downloaded into ``weights_dir()``. Raises ``WeightsError`` for an unknown variant, a
    missing file, a hash mismatch (naming the file and both hashes) or a failed download."""
    pin = _pin(variant)
    if path is not None and str(path) != "":
        return _explicit(pin, path)
    cached = weights_dir() / pin.file
    if cached.is_file():
        try:
            return _verify(cached, pin)
        except WeightsError as err:
            raise WeightsError(f"{err}. Remove it, or replace it with "
                               f"`scaa weights fetch {pin.name}`. {_how_to_get(pin)}") from None
    if not download:
        raise WeightsError(f"weights {pin.name!r}: {pin.file} is not in {weights_dir()}. {_how_to_get(pin)}")
    return _download(pin)


def _download(pin: WeightFile) -> Path:
    var = offline()
    if var:
        raise WeightsError(f"weights {pin.name!r}: {pin.file} is not in {weights_dir()}, and {var} is set "
                           f"(no download). {_how_to_get(pin)}")
    try:
        return _install(pin, lambda fh: _copy_url(pin.url, fh))
    except WeightsError as err:
        raise WeightsError(f"weights {pin.name!r}: download from {pin.url} failed: {err}. "
                           f"{_how_to_get(pin)}") from None
    except OSError as err:  # URLError, timeouts and an unwritable weights_dir() are all OSErrors
        raise WeightsError(f"weights {pin.name!r}: download from {pin.url} into {weights_dir()} failed "
                           f"({type(err).__name__}: {err}). {_how_to_get(pin)}") from None


def _copy_url(url: str, out) -> None:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        shutil.copyfileobj(response, out, CHUNK)


def _install(pin: WeightFile, write) -> Path:
    """``write(fh)`` fills a temporary file in ``weights_dir()``; it is renamed to
    ``<file>`` only if its hash matches the pin; on any failure nothing is left behind."""
    dest_dir = weights_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{pin.file}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        actual = sha256_of(tmp)
        if actual != pin.sha256:
            raise WeightsError(f"got a file with SHA-256 {actual}, expected {pin.sha256} (discarded)")
        os.chmod(tmp, 0o644)
        dest = dest_dir / pin.file
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    st = dest.stat()
    _HASHES[(os.path.abspath(dest), st.st_mtime_ns, st.st_size)] = pin.sha256
    return dest


def fetch(variant: str, source_dir: str | os.PathLike | None = None) -> Path:
    """Put ``variant``'s checked file into ``weights_dir()`` and return its path: copied
    from ``source_dir/<file>`` (``source_dir`` may also be the file itself; checked before
    and after the copy) or, without ``source_dir``, downloaded. Does nothing when a valid
    copy is already there; a copy with the wrong hash is replaced."""
    pin = _pin(variant)
    dest = weights_dir() / pin.file
    stale = ""
    if dest.is_file():
        try:
            return _verify(dest, pin)
        except WeightsError as err:
            stale = f"{err}; "  # replaced below (atomically)
    if source_dir is None:
        try:
            return _download(pin)
        except WeightsError as err:
            raise WeightsError(stale + str(err)) from None
    source = _explicit(pin, source_dir)
    if source.resolve() == dest.resolve():
        return dest

    def copy(out) -> None:
        with open(source, "rb") as fh:
            shutil.copyfileobj(fh, out, CHUNK)

    try:
        return _install(pin, copy)
    except WeightsError as err:
        raise WeightsError(f"weights {pin.name!r}: copy of {source} into {weights_dir()} failed: {err}") from None
    except OSError as err:
        raise WeightsError(f"weights {pin.name!r}: cannot copy {source} into {weights_dir()} "
                           f"({type(err).__name__}: {err}). Set SCAA_WEIGHTS_DIR to a writable directory.") from None


def describe(variant: str) -> dict:
    """The pin of ``variant`` (name, file, sha256, url, source, licence) plus ``path``: the
    checked file in ``weights_dir()``, or None; and ``problem``: why it is None (a missing
    file or a hash mismatch). Never downloads."""
    out = asdict(_pin(variant))
    try:
        out["path"], out["problem"] = str(resolve(variant, download=False)), None
    except WeightsError as err:
        out["path"], out["problem"] = None, str(err)
    return out
