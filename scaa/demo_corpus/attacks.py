"""The demo corpus's splits and six attacks: what the builder generates and its README lists.

Kept apart from :mod:`scaa.demo_corpus.builder` so :mod:`scaa.demo_corpus.readme` can read
them without importing the builder (which calls the readme).
"""
from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "dev", "eval")


@dataclass(frozen=True)
class Attack:
    attack_id: str
    kind: str          # key into generators.GENERATORS
    family: str
    splits: tuple
    description: str


ATTACKS = (
    Attack("A01", "world", "vocoder (resynthesis)", ("train", "dev"),
           "WORLD analysis/resynthesis at 16 kHz of bona fide clips (pyworld: DIO+StoneMask, CheapTrick, D4C)"),
    Attack("A02", "espeak", "TTS (formant)", ("train", "dev"),
           "espeak-ng; train voices English/Spanish, dev voices French (different speakers)"),
    Attack("A03", "griffin_lim", "vocoder (phase reconstruction)", ("dev", "eval"),
           "64-band mel spectrogram -> pseudo-inverse magnitude -> Griffin-Lim, 32 iterations"),
    Attack("A04", "lpc", "vocoder (source-filter)", ("eval",),
           "LPC order 16 (autocorrelation method) at 8 kHz, 30 ms window / 10 ms frames, "
           "pulse-train or noise excitation from WORLD F0"),
    Attack("A05", "codec2", "speech codec", ("eval",),
           "Codec 2 encode/decode at 1300, 2400 or 700C bit/s (c2enc/c2dec)"),
    Attack("A06", "flite", "TTS (diphone/clustergen)", ("eval",),
           "flite voices slt, rms, awb, kal16 with random duration stretch"),
)
ATTACK_BY_ID = {a.attack_id: a for a in ATTACKS}
