"""Build an encoder from a cell's encoder spec and freeze setting (shared by training and inference)."""
from __future__ import annotations

from scaa.registry import ENCODERS


def build_encoder(encoder_spec: dict, freeze: str = "frozen"):
    """The registered encoder ``encoder_spec`` names; ``freeze`` topK: only its top K layers trainable."""
    encoder = ENCODERS.build(encoder_spec)
    if freeze.startswith("top"):
        encoder = encoder.for_top_k(int(freeze[3:]))
    return encoder
