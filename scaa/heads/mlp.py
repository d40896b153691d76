"""MLP head over pooled vectors (hidden=[] is a linear classifier), with a projection for
contrastive losses. Trained by :mod:`scaa.heads.torch_base`."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import nn

from scaa.heads.torch_base import TorchHead, activation, projector
from scaa.registry import HEADS


class MLPNet(nn.Module):
    """x [B, D] -> hidden layers -> embedding [B, E] -> spoof logit; ``project`` -> unit z [B, P]."""

    def __init__(self, in_dim: int, hidden: Sequence[int] = (128,), dropout: float = 0.1,
                 activation_name: str = "relu", projection_dim: int = 128):
        super().__init__()
        layers, d = [], in_dim
        for h in hidden:
            layers += [nn.Linear(d, int(h)), activation(activation_name), nn.Dropout(dropout)]
            d = int(h)
        self.body = nn.Sequential(*layers)
        self.embedding_dim = d
        self.classifier = nn.Linear(d, 1)
        self.projector = projector(d, projection_dim)

    def forward(self, x, mask=None):
        emb = self.body(x)
        return {"logits": self.classifier(emb).squeeze(-1), "embedding": emb}

    def project(self, emb):
        return F.normalize(self.projector(emb), dim=-1)


@HEADS.register("mlp")
class MLPHead(TorchHead):
    """MLP (hidden sizes, dropout, activation) on standardised pooled features; 128-d projection for contrastive losses."""

    registry_name = "mlp"
    trains_top_layers = True  # scaa.heads.topk.TopKHead puts this network on an encoder's top layers

    def __init__(self, hidden: Sequence[int] = (128,), dropout: float = 0.1, activation: str = "relu", **train):
        super().__init__(**train)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.arch = {"hidden": [int(h) for h in hidden], "dropout": float(dropout), "activation": activation}

    def build_module(self, in_dim):
        return MLPNet(in_dim, self.arch["hidden"], self.arch["dropout"], self.arch["activation"], self.projection_dim)
