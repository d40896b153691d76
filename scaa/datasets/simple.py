"""Adapters for corpora described by a CSV or by folder names."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from scaa.dsp.audio import AUDIO_SUFFIXES
from scaa.datasets.base import DatasetAdapter, Entry, assign_splits, id_problem, parse_label
from scaa.manifest import BONAFIDE, SPLITS, SPOOF
from scaa.registry import DATASETS


@DATASETS.register("in_the_wild")
@dataclass
class InTheWild(DatasetAdapter):
    """In-the-Wild: wav files plus meta.csv 'file,speaker,label' (bona-fide/spoof)."""
    split_fractions: dict | None = None  # default: all eval (a test-only corpus)
    seed: int = 0

    def entries(self):
        meta = self.root / "meta.csv"
        if not meta.is_file():
            raise FileNotFoundError(f"{meta} not found")
        rows = []
        numbered = list(self.text_lines(meta))  # one CSV row per line
        reader = csv.DictReader([text for _, text in numbered])
        need = {"file", "speaker", "label"}
        if not need <= set(reader.fieldnames or []):
            raise ValueError(f"{meta}: header must contain {sorted(need)}, got {reader.fieldnames}")
        for (lineno, _), row in zip(numbered[1:], reader):
            label = parse_label(row["label"])
            if label is None or not row["file"]:
                self.problem(f"{meta}:{lineno}", f"bad row {row!r}", utt_id=row.get("file") or "",
                             code="malformed_line")
                continue
            # the file (a path under the root) may sit in a sub-folder, never above the root
            if not self.plain_id(f"{meta}:{lineno}", row["file"], nested=True) \
                    or not self.plain_id(f"{meta}:{lineno}", Path(row["file"]).stem):
                continue
            rows.append((row, label))
        splits = assign_splits((r["speaker"] for r, _ in rows), self.split_fractions, self.seed)
        for row, label in rows:
            name = row["file"]
            yield Entry(Path(name).stem, self.root / name, label, splits[row["speaker"]], row["speaker"],
                        "-" if label == BONAFIDE else "itw")


@DATASETS.register("folder")
@dataclass
class Folder(DatasetAdapter):
    """real/ and fake/ folders (any audio format); optional train/dev/eval level above them."""
    split_fractions: dict | None = None
    seed: int = 0
    real_dirs: tuple = ("real", "bonafide", "bona-fide")
    fake_dirs: tuple = ("fake", "spoof")

    def entries(self):
        split_roots = {s: self.root / s for s in SPLITS if (self.root / s).is_dir()}
        if split_roots:
            for split, base in split_roots.items():
                for path, label, uid, spk in self._files(base):
                    yield Entry(f"{split}/{uid}", path, label, split, spk, "-" if label == BONAFIDE else "folder")
            return
        files = list(self._files(self.root))
        splits = assign_splits((spk for *_, spk in files), self.split_fractions, self.seed)
        for path, label, uid, spk in files:
            yield Entry(uid, path, label, splits[spk], spk, "-" if label == BONAFIDE else "folder")

    def _files(self, base: Path):
        found = False
        for names, label in ((self.real_dirs, BONAFIDE), (self.fake_dirs, SPOOF)):
            for name in names:
                d = base / name
                if not d.is_dir():
                    continue
                found = True
                for path in sorted(p for p in d.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
                    rel = path.relative_to(base)
                    uid = "/".join(rel.with_suffix("").parts)
                    # a sub-folder under real/ or fake/ is taken as the speaker
                    spk = rel.parts[1] if len(rel.parts) > 2 else "unknown"
                    yield path, label, uid, spk
        if not found:
            raise FileNotFoundError(f"{base} has none of {self.real_dirs + self.fake_dirs} folders")


@DATASETS.register("fakeavceleb")
@dataclass
class FakeAVCeleb(DatasetAdapter):
    """FakeAVCeleb: meta_data.csv; audio label from the 'type' column (…RealAudio / …FakeAudio); mp4 via PyAV."""
    metadata: str = "meta_data.csv"
    split_fractions: dict | None = None
    seed: int = 0

    def entries(self):
        meta = Path(self.metadata)
        meta = meta if meta.is_absolute() else self.root / meta
        if not meta.is_file():
            raise FileNotFoundError(f"{meta} not found")
        rows = []
        numbered = list(self.text_lines(meta))  # one CSV row per line
        reader = csv.reader([text for _, text in numbered])
        header = [h.strip() for h in next(reader, [])]
        need = {"source", "method", "type", "path"}
        if not need <= set(header):
            raise ValueError(f"{meta}: header must contain {sorted(need)}, got {header}")
        dir_col = len(header) - 1 if header[-1] in ("", "directory", "folder") else None
        for (lineno, _), parts in zip(numbered[1:], reader):
            if len(parts) < len(header) - (1 if dir_col is not None else 0):
                self.problem(f"{meta}:{lineno}", f"short row ({len(parts)} fields)", code="malformed_line")
                continue
            row = dict(zip(header, parts))
            kind = row["type"].replace(" ", "")
            label = BONAFIDE if kind.endswith("RealAudio") else SPOOF if kind.endswith("FakeAudio") else None
            if label is None:
                self.problem(f"{meta}:{lineno}", f"unknown type {row['type']!r}", code="unknown_label")
                continue
            folder = parts[dir_col] if dir_col is not None and dir_col < len(parts) else ""
            path = self._resolve(folder, row["path"])
            if not self.plain_id(f"{meta}:{lineno}", row["path"]) or not _inside(path, self.root):
                if id_problem(row["path"]) is None:  # a folder column that climbs out of the root
                    self.problem(f"{meta}:{lineno}", f"audio path {str(path)!r} is outside the dataset root",
                                 utt_id=row["path"], code="bad_utt_id")
                continue
            rows.append((row, label, path))
        splits = assign_splits((r["source"] for r, _, _ in rows), self.split_fractions, self.seed)
        for row, label, path in rows:
            uid = "/".join(path.relative_to(self.root).with_suffix("").parts) if path.is_relative_to(self.root) \
                else path.stem
            yield Entry(uid, path, label, splits[row["source"]], row["source"],
                        "-" if label == BONAFIDE else row["method"])

    def _resolve(self, folder: str, name: str) -> Path:
        folder = folder.strip().strip("/")
        candidates = [self.root / folder / name]
        if "/" in folder:  # the CSV's folders start with the dataset's own top-level name
            candidates.append(self.root / folder.split("/", 1)[1] / name)
        candidates.append(self.root / name)
        return next((c for c in candidates if c.exists()), candidates[0])


def _inside(path: Path, root: Path) -> bool:
    """``path`` lies under ``root``, judged on the names (a symlinked corpus still counts as inside)."""
    import os

    return Path(os.path.normpath(path)).is_relative_to(Path(os.path.normpath(root)))
