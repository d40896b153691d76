"""Shared machinery for dataset adapters: entries -> probed, validated manifest + rejects."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from scaa.dsp import audio
from scaa.manifest import BONAFIDE, REJECT_COLUMNS, SPLITS, SPOOF, validate


class ProtocolError(ValueError):
    """A metadata problem, named by file and line so the user can fix it."""


def id_problem(utt_id, nested: bool = False) -> str | None:
    """Why ``utt_id`` cannot name a clip, or None. An id read from a protocol or metadata
    file must be a plain name (it becomes a file name under the dataset root and under
    results/): not empty, no '/', no '\\', not starting with '.' (so no '..'). ``nested``:
    an id an adapter built from a path under its root (``real/spk1/clip``) may hold '/',
    but no empty, '.' or '..' part and no leading '/'."""
    if not isinstance(utt_id, str) or not utt_id.strip():
        return "it is empty"
    for bad in ("\\", "\x00"):
        if bad in utt_id:
            return f"it contains {bad!r}"
    if not nested:
        if "/" in utt_id:
            return "it contains '/'"
        if utt_id.startswith("."):
            return "it starts with '.'"
        return None
    if utt_id.startswith("/"):
        return "it is an absolute path"
    part = next((p for p in utt_id.split("/") if p in ("", ".", "..")), None)
    return None if part is None else f"it has a path part {part!r}"


@dataclass
class Entry:
    utt_id: str
    path: Path
    label: int
    split: str
    speaker: str = "unknown"
    attack: str = "-"
    where: str = ""  # "file:line" of the metadata row, for error messages


@dataclass
class Problem:
    """A protocol-level problem found while listing entries."""
    where: str
    reason: str
    utt_id: str = ""
    path: str = ""
    split: str = ""
    code: str = "protocol_error"  # short, stable: what the summary groups by


@dataclass
class DatasetAdapter:
    """Base adapter. Subclasses implement :meth:`entries` and may append to ``problems``.

    ``on_error``: ``raise`` stops at the first protocol problem (file and line in the
    message); ``skip`` records it in the rejects table and goes on.
    """
    root: str
    on_error: str = "raise"
    max_seconds: float | None = 600.0
    min_seconds: float | None = audio.MIN_SECONDS
    problems: list[Problem] = field(default_factory=list, init=False)

    def __post_init__(self):
        self.root = Path(self.root).expanduser()
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {self.on_error!r}")
        if not self.root.exists():
            raise FileNotFoundError(f"dataset root {self.root} does not exist")

    def entries(self) -> Iterable[Entry]:  # pragma: no cover - abstract
        raise NotImplementedError

    def problem(self, where: str, reason: str, **kw) -> None:
        if self.on_error == "raise":
            raise ProtocolError(f"{where}: {reason}")
        self.problems.append(Problem(where, reason, **kw))

    def plain_id(self, where: str, utt_id: str, split: str = "", nested: bool = False) -> bool:
        """False (and the problem recorded as ``bad_utt_id``, or raised) when ``utt_id``, read at
        ``where`` (file:line), is not a plain name (:func:`id_problem`): such an id would name a
        file outside the dataset root (``../../x``)."""
        why = id_problem(utt_id, nested)
        if why is None:
            return True
        self.problem(where, f"utt_id {utt_id!r} is not a plain name: {why}", utt_id=str(utt_id), split=split,
                     code="bad_utt_id")
        return False

    def text_lines(self, path: Path, split: str = ""):
        """(line number, text) of a metadata file, decoded line by line as UTF-8, so that
        one bad byte is a problem named by file and line (skippable), not a crash."""
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as err:
                    self.problem(f"{path}:{lineno}", f"not valid UTF-8 (byte {raw[err.start]:#04x} at column "
                                                     f"{err.start + 1})", split=split, code="not_utf8")

    def build(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """List, de-duplicate and probe every clip; return (manifest, rejects)."""
        rows, rejects, seen = [], [], {}
        for e in self.entries():
            if not self.plain_id(e.where or str(e.path), e.utt_id, e.split, nested=True):
                continue  # every adapter's ids: never a path that climbs out (the readers check plain names)
            if e.utt_id in seen:
                self.problem(e.where or str(e.path), f"duplicate utt_id {e.utt_id!r} (first at {seen[e.utt_id]})",
                             utt_id=e.utt_id, path=str(e.path), split=e.split, code="duplicate_id")
                continue
            seen[e.utt_id] = e.where or str(e.path)
            try:
                limit = self.max_seconds or None  # the loader's input gate, on the header alone
                info = audio.probe(e.path, limit)
                audio.check_input(info, e.path, limit, self.min_seconds)
            except audio.AudioError as err:
                at = f" (listed at {e.where})" if e.where else ""
                if err.reason == "missing" and self.on_error == "raise":
                    raise ProtocolError(f"{e.where or e.path}: audio file for {e.utt_id!r} not found: "
                                        f"{e.path}") from err
                rejects.append({"utt_id": e.utt_id, "path": str(e.path), "split": e.split,
                                "reason": err.reason, "detail": (err.detail + at).strip()})
                continue
            rows.append({"utt_id": e.utt_id, "path": str(e.path), "label": int(e.label),
                         "split": e.split, "speaker": e.speaker, "attack": e.attack,
                         "duration_s": info.duration_s})
        for p in self.problems:
            rejects.append({"utt_id": p.utt_id, "path": p.path or p.where, "split": p.split,
                            "reason": p.code, "detail": f"{p.where}: {p.reason}"})
        manifest = validate(pd.DataFrame(rows, columns=["utt_id", "path", "label", "split",
                                                        "speaker", "attack", "duration_s"]))
        return manifest, pd.DataFrame(rejects, columns=list(REJECT_COLUMNS))


def parse_label(value: str, bona=("bonafide", "bona-fide", "bona_fide", "real"),
                spoof=("spoof", "fake", "deepfake", "synthetic")) -> int | None:
    v = str(value).strip().lower()
    if v in bona:
        return BONAFIDE
    if v in spoof:
        return SPOOF
    return None


def assign_splits(groups: Iterable[str], fractions: dict[str, float] | None, seed: int,
                  default: str = "eval") -> dict[str, str]:
    """Deterministic group-disjoint split (by speaker, usually) from a seeded hash.

    With no fractions every group goes to ``default`` (an evaluation-only corpus).
    """
    groups = sorted(set(groups))
    if not fractions:
        return {g: default for g in groups}
    unknown = set(fractions) - set(SPLITS)
    if unknown:
        raise ValueError(f"split fractions name unknown splits {sorted(unknown)}")
    total = sum(fractions.values())
    order = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    out, start = {}, 0
    names = [s for s in SPLITS if s in fractions]
    for i, name in enumerate(names):
        stop = len(order) if i == len(names) - 1 else start + round(len(order) * fractions[name] / total)
        for g in order[start:stop]:
            out[g] = name
        start = stop
    return out
