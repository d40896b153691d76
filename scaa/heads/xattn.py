"""Two-view cross-attention head over frame features.

A "mini cross-attention" detector, after attention-based contrastive learning for spoof
detection.

Each clip's frames [T, D] are split along the feature axis into two spectral views (with
the ``spectral`` encoder's ``frame_mel``: linear-frequency cepstra | log-mel bands). Each
view gets a linear embedding and one small self-attention block; one cross-attention
block then lets view A's frames attend to view B's, and masked mean + std pooling of the
merged frames feeds the classifier. Training: class-weighted CE on the spoof logit plus
``contrastive_weight`` × NT-Xent between the two views' pooled projections (a clip's two
views are positives, other clips negatives); weight 0 is the no-contrastive ablation.
Frames are average-pooled in time by ``time_pool`` first, so attention stays cheap on CPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scaa.heads.attn import masked_stats
from scaa.heads.torch_base import TorchHead
from scaa.heads.torch_nn import projector
from scaa.heads.losses import supcon_loss
from scaa.registry import HEADS


def _pool_time(x: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over non-overlapping groups of k frames (padding excluded); a group is real if any frame is."""
    if k <= 1:
        return x, mask
    B, T, D = x.shape
    pad = (-T) % k
    x = F.pad(x * mask[..., None], (0, 0, 0, pad))
    m = F.pad(mask.float(), (0, pad))
    s = x.reshape(B, -1, k, D).sum(2)
    n = m.reshape(B, -1, k).sum(2)
    return s / n.clamp_min(1.0)[..., None], n > 0


class _Block(nn.Module):
    """Pre-norm attention + feed-forward, residual (query attends to context)."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))

    def forward(self, q, kv, kv_mask):
        kv_n = self.norm_kv(kv)
        a, _ = self.attn(self.norm_q(q), kv_n, kv_n, key_padding_mask=~kv_mask, need_weights=False)
        q = q + a
        return q + self.ff(self.norm_ff(q))


class XAttnNet(nn.Module):
    def __init__(self, in_dim: int, split: int, d_model: int = 64, heads: int = 4, dropout: float = 0.1,
                 time_pool: int = 4, projection_dim: int = 64):
        super().__init__()
        if not 0 < split < in_dim:
            raise ValueError(f"xattn: split must cut the {in_dim} feature dims into two views, got {split}")
        self.split, self.time_pool = int(split), int(time_pool)
        self.embed_a, self.embed_b = nn.Linear(split, d_model), nn.Linear(in_dim - split, d_model)
        self.self_a, self.self_b = _Block(d_model, heads, dropout), _Block(d_model, heads, dropout)
        self.cross = _Block(d_model, heads, dropout)
        self.embedding_dim = 2 * d_model
        self.classifier = nn.Sequential(nn.LayerNorm(2 * d_model), nn.Linear(2 * d_model, 1))
        self.projector = projector(d_model, projection_dim)

    def forward(self, x, mask):
        x, mask = _pool_time(x, mask, self.time_pool)
        a, b = self.embed_a(x[..., :self.split]), self.embed_b(x[..., self.split:])
        a, b = self.self_a(a, a, mask), self.self_b(b, b, mask)
        merged = self.cross(a, b, mask)
        w = mask.float() / mask.float().sum(1, keepdim=True)
        emb = masked_stats(merged, w)
        views = torch.stack([(w[..., None] * a).sum(1), (w[..., None] * b).sum(1)])  # [2, B, d]
        return {"logits": self.classifier(emb).squeeze(-1), "embedding": emb, "views": views}

    def project(self, views):
        return F.normalize(self.projector(views), dim=-1)


class CrossViewLoss(nn.Module):
    """The cell's classification loss + weight × NT-Xent between the two views of each clip."""

    needs_views = 1
    uses_projection = False

    def __init__(self, base: nn.Module, project, weight: float, temperature: float):
        super().__init__()
        self.base, self._project = base, project
        self.weight, self.temperature = float(weight), float(temperature)

    def forward(self, out, y):
        total, parts = self.base(out, y)
        if "views" not in out or out["views"].shape[1] < 2:
            return total, parts
        c = supcon_loss(self._project(out["views"]), None, self.temperature)
        if self.weight > 0:
            total = total + self.weight * c
        return total, {**parts, "cross_view": c.detach()}

    def score(self, out):
        return self.base.score(out)


@HEADS.register("xattn")
class XAttnHead(TorchHead):
    """Two spectral views of the frames, a self-attention block each, one cross-attention block; CE + NT-Xent between views."""

    needs = "frames"
    accepts_losses = ("ce",)
    registry_name = "xattn"

    def __init__(self, split: int | None = None, d_model: int = 64, heads: int = 4, dropout: float = 0.1,
                 time_pool: int = 4, contrastive_weight: float = 0.5, temperature: float = 0.1,
                 lr: float = 1e-3, weight_decay: float = 1e-2, epochs: int = 30, batch_size: int = 32,
                 patience: int = 5, projection_dim: int = 64, eval_batch_size: int = 1024,
                 train_precision: str = "auto", loss="ce", random_state=0):
        self.split = split
        self.d_model = d_model
        self.heads = heads
        self.dropout = dropout
        self.time_pool = time_pool
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature
        super().__init__(lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size, patience=patience,
                         projection_dim=projection_dim, eval_batch_size=eval_batch_size,
                         train_precision=train_precision, loss=loss, random_state=random_state)

    def check_params(self) -> None:
        super().check_params()
        if float(self.contrastive_weight) < 0 or float(self.temperature) <= 0 or int(self.d_model) % int(self.heads):
            raise ValueError("xattn: need contrastive_weight >= 0, temperature > 0, d_model divisible by heads")

    def build_module(self, in_dim):
        split = int(self.split) if self.split is not None else in_dim // 2
        return XAttnNet(in_dim, split, int(self.d_model), int(self.heads), float(self.dropout), int(self.time_pool),
                        int(self.projection_dim))

    def _setup(self, in_dim, loss_spec, class_counts):
        super()._setup(in_dim, loss_spec, class_counts)
        self.loss_ = CrossViewLoss(self.loss_, self.module_.project, float(self.contrastive_weight),
                                   float(self.temperature))
