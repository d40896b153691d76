"""Encoder interface: waveforms in, features out.

An encoder turns a list of 16 kHz mono float32 waveforms into one feature per clip.
``output`` says what kind: ``pooled`` (a vector [D] per clip) or ``frames`` (an array
[T, D] per clip, for heads that pool themselves or layers that are fine-tuned).
Frozen encoders run once per (dataset, encoder, view); see scaa.features.
"""
from __future__ import annotations

import numpy as np


class Encoder:
    output: str = "pooled"          # "pooled" or "frames"
    trainable_layers: int = 0       # how many top layers a topk freeze may fine-tune (0: none)
    batch_seconds: float = 0.0      # >0: the extractor batches clips of similar length up to this much audio

    def encode(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Features for each waveform (same order). Must be finite."""
        raise NotImplementedError

    def set_threads(self, n: int) -> None:
        """Called once per job with the job's thread count."""

    def describe(self) -> dict:
        return {}
