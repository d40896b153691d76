"""The embedded demo corpus: real prompt recordings plus locally generated spoofs, built offline.

Bona fide clips are Asterisk prompt recordings; spoofs come from local generators
(espeak-ng, flite, WORLD, Griffin-Lim, LPC, Codec 2). The corpus is built offline and
deterministically in ASVspoof 2019 LA layout so the ``demo`` dataset adapter reads it.

``build(out_dir, seed=2026, n_bonafide=40, n_spoof=40, workers=2)`` or
``python -m scaa.demo_corpus OUT_DIR --seed 2026 --workers 2``.
"""
from scaa.demo_corpus.attacks import ATTACKS, Attack
from scaa.demo_corpus.builder import build, plan
from scaa.demo_corpus.sources import MissingDependencyError, check_requirements, missing_requirements

__all__ = ["ATTACKS", "Attack", "MissingDependencyError", "build", "check_requirements",
           "missing_requirements", "plan"]
