"""ASVspoof 2019 LA and 2021 LA/DF protocol readers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scaa.datasets.base import DatasetAdapter, Entry, parse_label
from scaa.manifest import BONAFIDE
from scaa.registry import DATASETS

_2019_SPLITS = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}


def _la_dir(root: Path) -> Path:
    return root / "LA" if (root / "LA").is_dir() else root


@DATASETS.register("asvspoof2019_la")
@dataclass
class ASVspoof2019LA(DatasetAdapter):
    """ASVspoof 2019 LA: protocol lines 'SPEAKER FILE - SYSTEM KEY', flac audio."""
    splits: tuple = ("train", "dev", "eval")

    def entries(self):
        la = _la_dir(self.root)
        for split in self.splits:
            proto = la / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{_2019_SPLITS[split]}.txt"
            if not proto.is_file():
                raise FileNotFoundError(f"protocol file {proto} not found (is root={self.root} right?)")
            audio_dir = la / f"ASVspoof2019_LA_{split}" / "flac"
            yield from self._read(proto, audio_dir, split)

    def _read(self, proto: Path, audio_dir: Path, split: str):
        for lineno, line in self.text_lines(proto, split):
            if not line.strip():
                continue
            parts = line.split()
            where = f"{proto}:{lineno}"
            if len(parts) != 5:
                self.problem(where, f"expected 5 fields 'SPEAKER FILE - SYSTEM KEY', got {len(parts)}: "
                                    f"{line.strip()!r}", split=split, code="malformed_line")
                continue
            speaker, name, _, system, key = parts
            if not self.plain_id(where, name, split):
                continue
            label = parse_label(key)
            if label is None:
                self.problem(where, f"unknown key {key!r} (expected bonafide/spoof)", utt_id=name,
                             split=split, code="unknown_label")
                continue
            attack = "-" if label == BONAFIDE else system
            yield Entry(name, audio_dir / f"{name}.flac", label, split, speaker, attack, where)


@DATASETS.register("asvspoof2021")
@dataclass
class ASVspoof2021(DatasetAdapter):
    """ASVspoof 2021 LA or DF evaluation keys (trial_metadata.txt); every clip is 'eval'."""
    track: str = "LA"
    subsets: tuple = ("eval", "progress", "hidden_track")
    keys: str | None = None  # path to trial_metadata.txt; default searched under root

    def entries(self):
        track = self.track.upper()
        keys = Path(self.keys) if self.keys else self._find_keys(track)
        audio_dir = self._find_audio(track)
        for lineno, line in self.text_lines(keys, "eval"):
            if not line.strip():
                continue
            parts = line.split()
            where = f"{keys}:{lineno}"
            if len(parts) < 8:
                self.problem(where, f"expected at least 8 fields, got {len(parts)}", split="eval",
                             code="malformed_line")
                continue
            speaker, name, attack, key, subset = parts[0], parts[1], parts[4], parts[5], parts[7]
            if not self.plain_id(where, name, "eval"):
                continue
            label = parse_label(key)
            if label is None:
                self.problem(where, f"unknown key {key!r}", utt_id=name, split="eval", code="unknown_label")
                continue
            if subset not in self.subsets:
                continue
            yield Entry(name, audio_dir / f"{name}.flac", label, "eval", speaker,
                        "-" if label == BONAFIDE else attack, where)

    def _find_keys(self, track: str) -> Path:
        hits = sorted(self.root.rglob("trial_metadata.txt"))
        hits = [h for h in hits if track in str(h)] or hits
        if not hits:
            raise FileNotFoundError(f"no trial_metadata.txt under {self.root}; set keys:")
        return hits[0]

    def _find_audio(self, track: str) -> Path:
        for cand in (self.root / f"ASVspoof2021_{track}_eval" / "flac", self.root / "flac", self.root):
            if cand.is_dir():
                return cand
        return self.root
