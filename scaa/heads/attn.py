"""Attentive statistics pooling (Okabe et al. 2018) over frame features [T, D], then an MLP.

Frames get a learned softmax weight each; the weighted mean and standard deviation
(2D values) feed :class:`scaa.heads.mlp.MLPNet`. Padding is masked out exactly, so a
clip's score does not depend on what it is batched with.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from scaa.heads.mlp import MLPNet, check_mlp_params
from scaa.heads.torch_base import TorchHead
from scaa.registry import HEADS


def masked_stats(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted mean and std over time; x [B, T, D], w [B, T] summing to 1 -> [B, 2D]."""
    mu = (w[..., None] * x).sum(1)
    var = (w[..., None] * x * x).sum(1) - mu * mu
    return torch.cat([mu, var.clamp_min(1e-6).sqrt()], dim=-1)


class AttnNet(nn.Module):
    def __init__(self, in_dim: int, attn_dim: int = 128, hidden: Sequence[int] = (128,), dropout: float = 0.1,
                 activation_name: str = "relu", projection_dim: int = 128):
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(in_dim, attn_dim), nn.Tanh(), nn.Linear(attn_dim, 1))
        self.mlp = MLPNet(2 * in_dim, hidden, dropout, activation_name, projection_dim)
        self.embedding_dim = self.mlp.embedding_dim

    def forward(self, x, mask):
        e = self.attention(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        return self.mlp(masked_stats(x, torch.softmax(e, dim=1)))

    def project(self, emb):
        return self.mlp.project(emb)


@HEADS.register("attn")
class AttnHead(TorchHead):
    """Attentive statistics pooling over frame-level features, then an MLP (needs frames)."""

    needs = "frames"
    registry_name = "attn"
    bf16_gains = True  # trains faster under bf16 autocast (bench/results/cnn_train_attn.md)

    def __init__(self, attn_dim: int = 128, hidden: Sequence[int] = (128,), dropout: float = 0.1,
                 activation: str = "relu", lr: float = 1e-3, weight_decay: float = 1e-2, epochs: int = 30,
                 batch_size: int = 32, patience: int = 5, projection_dim: int = 128, eval_batch_size: int = 1024,
                 train_precision: str = "auto", loss="ce", random_state=0):
        self.attn_dim = attn_dim
        self.hidden = hidden
        self.dropout = dropout
        self.activation = activation
        super().__init__(lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size, patience=patience,
                         projection_dim=projection_dim, eval_batch_size=eval_batch_size,
                         train_precision=train_precision, loss=loss, random_state=random_state)

    def check_params(self) -> None:
        super().check_params()
        check_mlp_params(self.hidden, self.dropout, self.activation)
        if int(self.attn_dim) < 1:
            raise ValueError(f"attn_dim must be >= 1, got {self.attn_dim}")

    def build_module(self, in_dim):
        return AttnNet(in_dim, int(self.attn_dim), [int(h) for h in self.hidden], float(self.dropout),
                       self.activation, int(self.projection_dim))
