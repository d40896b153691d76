"""Views (augmentations) applied to the waveform before encoding, seeded per clip.

A view is a callable ``view(wave, rng) -> wave`` on 16 kHz float32 audio. The ``rng``
is a numpy Generator seeded from (config seed, utt_id, view name), so the same config
gives the same augmented audio.
"""
from __future__ import annotations

import hashlib

import numpy as np

from scaa.registry import VIEWS


def clip_rng(seed: int, utt_id: str, view: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{utt_id}|{view}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@VIEWS.register("none")
class Identity:
    """The clip as it is."""

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return wave
