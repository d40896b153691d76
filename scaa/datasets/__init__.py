"""Dataset adapters: each turns a corpus on disk into the manifest (scaa.manifest)."""
from dataclasses import dataclass

from scaa.datasets.asvspoof import ASVspoof2019LA, ASVspoof2021
from scaa.datasets.base import DatasetAdapter, Entry, ProtocolError, assign_splits
from scaa.datasets.public import MLAAD, ASVspoof5, FakeOrReal, LibriSeVoc, WaveFake
from scaa.datasets.simple import FakeAVCeleb, Folder, InTheWild
from scaa.registry import DATASETS


@DATASETS.register("demo")
@dataclass
class Demo(ASVspoof2019LA):
    """The embedded demo corpus (built offline by the demo_corpus rule), in ASVspoof 2019 LA layout."""
    root: str = "results/demo_corpus"
    built_by_workflow = True  # the demo_corpus rule makes the root: it need not exist at start-up


__all__ = ["ASVspoof2019LA", "ASVspoof2021", "ASVspoof5", "DatasetAdapter", "Demo", "Entry", "FakeAVCeleb",
           "FakeOrReal", "Folder", "InTheWild", "LibriSeVoc", "MLAAD", "ProtocolError", "WaveFake",
           "assign_splits"]
