"""The embedded demo corpus: real Asterisk prompt recordings (bona fide) plus spoofs from
local generators (espeak-ng, flite, WORLD, Griffin-Lim, LPC, Codec 2), built offline and
deterministically in ASVspoof 2019 LA layout so the ``demo`` dataset adapter reads it.

``build(out_dir, seed=2026, n_bonafide=40, n_spoof=40, workers=2)`` or
``python -m scaa.demo_corpus OUT_DIR --seed 2026 --workers 2``.
"""
from scaa.demo_corpus.builder import ATTACKS, Attack, build, plan
from scaa.demo_corpus.sources import MissingDependencyError, check_requirements, missing_requirements

__all__ = ["ATTACKS", "Attack", "MissingDependencyError", "build", "check_requirements",
           "missing_requirements", "plan"]
