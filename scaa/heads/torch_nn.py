"""Small torch building blocks shared by the torch heads: projection head, activations, native-bfloat16 check."""
from __future__ import annotations

import functools
from pathlib import Path

from torch import nn


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); Linux only."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def projector(embedding_dim: int, projection_dim: int) -> nn.Module:
    """SimCLR-style 2-layer projection head (its output is L2-normalised by ``project``)."""
    return nn.Sequential(nn.Linear(embedding_dim, projection_dim), nn.ReLU(),
                         nn.Linear(projection_dim, projection_dim))


ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
