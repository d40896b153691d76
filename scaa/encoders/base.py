"""Encoder interface: waveforms in, features out.

An encoder turns a list of 16 kHz mono float32 waveforms into one feature per clip.
``output`` says what kind: ``pooled`` (a vector [D] per clip) or ``frames`` (an array
[T, D] per clip, for heads that pool themselves or layers that are fine-tuned).
Frozen encoders run once per (dataset, encoder, view); see scaa.features.
"""
from __future__ import annotations

import numpy as np


class Encoder:
    """Base class of every registered encoder. The class attributes below are its declared
    capabilities: :mod:`scaa.plan.grid` reads them (without building the encoder, which may
    load a large model) to decide which ablation cells can run."""

    output: str = "pooled"
    """What :meth:`encode` gives by default: ``"pooled"`` (a [D] vector per clip) or
    ``"frames"`` ([T, D] per clip). A spec can change it; see :meth:`output_for`."""

    supports_top_k: bool = False
    """True when the encoder has transformer layers that a ``topK`` freeze can fine-tune:
    the class then provides ``for_top_k(k)`` (features entering the last k layers) and
    ``top_layers(k)`` (those layers as a trainable module)."""

    trainable_layers: int = 0
    """How many top layers a ``topK`` freeze may fine-tune, once built (0: none)."""

    batch_seconds: float = 0.0
    """>0: the extractor batches clips of similar length up to this much audio."""

    @classmethod
    def output_for(cls, params: dict) -> str:
        """``"pooled"`` or ``"frames"`` for a spec's parameters, without building anything
        (the grid asks this). Subclasses whose output follows another parameter (e.g.
        ``pooling: none``) override it."""
        return params.get("output", cls.output)

    def encode(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Features for each waveform (same order). Must be finite."""
        raise NotImplementedError

    def set_threads(self, n: int) -> None:
        """Called once per job with the job's thread count."""

    def describe(self) -> dict:
        return {}


def check_waves(waves) -> None:
    """The input every encoder takes: at least one waveform, each a non-empty 1-d array."""
    if not len(waves):
        raise ValueError("encode() needs at least one waveform")
    for w in waves:
        if np.ndim(w) != 1 or np.size(w) == 0:
            raise ValueError("each waveform must be a non-empty 1-d array")
