"""MLP head over pooled vectors (hidden=[] is a linear classifier).

It has a projection for contrastive losses and is trained by :mod:`scaa.heads.torch_base`."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import nn

from scaa.heads.torch_base import TorchHead
from scaa.heads.torch_nn import ACTIVATIONS, activation, projector
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


def check_mlp_params(hidden, dropout, activation_name) -> None:
    if not 0 <= float(dropout) < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if any(int(h) < 1 for h in hidden):
        raise ValueError(f"hidden sizes must be >= 1, got {hidden!r}")
    if activation_name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation_name!r}; choose from {sorted(ACTIVATIONS)}")


@HEADS.register("mlp")
class MLPHead(TorchHead):
    """MLP (hidden sizes, dropout, activation) on standardised pooled features; 128-d projection for contrastive losses."""

    registry_name = "mlp"
    trains_top_layers = True  # scaa.heads.topk.TopKHead puts this network on an encoder's top layers

    def __init__(self, hidden: Sequence[int] = (128,), dropout: float = 0.1, activation: str = "relu",
                 lr: float = 1e-3, weight_decay: float = 1e-2, epochs: int = 30, batch_size: int = 256,
                 patience: int = 5, projection_dim: int = 128, eval_batch_size: int = 1024,
                 train_precision: str = "auto", loss="ce", random_state=0):
        self.hidden = hidden
        self.dropout = dropout
        self.activation = activation
        super().__init__(lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size, patience=patience,
                         projection_dim=projection_dim, eval_batch_size=eval_batch_size,
                         train_precision=train_precision, loss=loss, random_state=random_state)

    def check_params(self) -> None:
        super().check_params()
        check_mlp_params(self.hidden, self.dropout, self.activation)

    def build_module(self, in_dim):
        return MLPNet(in_dim, [int(h) for h in self.hidden], float(self.dropout), self.activation,
                      int(self.projection_dim))
