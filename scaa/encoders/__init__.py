"""Encoders: features from waveforms.

Each module registers its encoders when imported; ``ENCODERS.get(name)`` imports the one
it needs (scaa.registry.BUILTINS)."""
from scaa.encoders.base import Encoder

__all__ = ["Encoder"]
