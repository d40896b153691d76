"""A small light CNN (LCNN, Lavrentyeva et al. 2019) over frame-level LFCC/mel features [T, F].

End-to-end spectro-temporal baseline: 2-D convolutions with max-feature-map (MFM)
activations (each layer keeps the max of two channel halves), four time/frequency
max-pools, then masked mean/std over time. ~80k parameters with the defaults; CPU-fast.
Padding is re-zeroed after every layer and excluded from pooling, so a clip's score does
not depend on the batch it is scored in.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from scaa.heads.torch_base import TorchHead
from scaa.heads.torch_nn import projector
from scaa.registry import HEADS


class _MaxOfHalves(torch.autograd.Function):
    """max(first half, second half) of dim 1, with a lean backward.

    ``torch.maximum``'s backward splits the gradient on ties and builds it from several
    full-size temporaries (where, eq, div, cat); here one boolean map is kept and the
    gradient goes to the half that won (ties: the first half). ``torch.where`` and
    ``cat`` are avoided too: on one CPU thread they cost about three times a
    multiplication (bench/results/cnn_train_lcnn.md), so the backward multiplies by the
    map straight into the two halves of one output tensor."""

    @staticmethod
    def forward(ctx, x):
        a, b = x.chunk(2, dim=1)
        ctx.save_for_backward(a >= b)
        return torch.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        (first,) = ctx.saved_tensors
        shape = list(grad.shape)
        shape[1] *= 2
        fmt = torch.channels_last if grad.dim() == 4 and grad.is_contiguous(memory_format=torch.channels_last) \
            and not grad.is_contiguous() else torch.contiguous_format
        out = torch.empty(shape, dtype=grad.dtype, memory_format=fmt)
        to_a, to_b = out.chunk(2, dim=1)
        torch.mul(grad, first, out=to_a)
        torch.mul(grad, ~first, out=to_b)
        return out


class MFM(nn.Module):
    """Max-feature-map: split channels (dim 1) in two halves, keep the element-wise max."""

    def forward(self, x):
        if torch.is_grad_enabled() and x.requires_grad:
            return _MaxOfHalves.apply(x)
        a, b = x.chunk(2, dim=1)
        return torch.maximum(a, b)


def _conv(cin: int, cout: int, k: int, bn: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, 2 * cout, k, padding=k // 2), MFM()]
    return nn.Sequential(*layers, *( [nn.BatchNorm2d(cout)] if bn else []))


class LCNNNet(nn.Module):
    def __init__(self, in_dim: int, channels: Sequence[int] = (16, 24, 32, 32), embedding_dim: int = 64,
                 dropout: float = 0.3, projection_dim: int = 128):
        super().__init__()
        c = [int(v) for v in channels]
        if len(c) < 1:
            raise ValueError("lcnn needs at least one channel size")
        # one stage = layers, then a 2x2 max-pool; stage 0 is the 5x5 stem
        stages = [[_conv(1, c[0], 5, bn=False)]]
        for prev, cur in zip(c[:-1], c[1:]):
            stages.append([_conv(prev, prev, 1, bn=True), _conv(prev, cur, 3, bn=True)])
        self.stages = nn.ModuleList(nn.ModuleList(s) for s in stages)
        self.fc = nn.Linear(2 * c[-1], 2 * embedding_dim)
        self.mfm = MFM()
        self.dropout = nn.Dropout(dropout)
        self.embedding_dim = int(embedding_dim)
        self.classifier = nn.Linear(self.embedding_dim, 1)
        self.projector = projector(self.embedding_dim, projection_dim)

    def forward(self, x, mask):
        h, m = self.feature_maps(x, mask)
        h = h.mean(dim=3)                        # [B, C, T'] (mean over frequency)
        w = m[:, 0, :, 0]                        # [B, T']
        w = w / w.sum(1, keepdim=True)
        mu = (h * w[:, None]).sum(2)
        sd = ((h * h * w[:, None]).sum(2) - mu * mu).clamp_min(1e-6).sqrt()
        emb = self.dropout(self.mfm(self.fc(torch.cat([mu, sd], 1))[..., None])[..., 0])
        return {"logits": self.classifier(emb).squeeze(-1), "embedding": emb}

    def feature_maps(self, x, mask):
        """The convolution stages: maps [B, C, T', F'] (zero on padding) and the frame mask
        [B, 1, T', 1] at their time resolution."""
        # [B, 1, T, F] with channels-last strides: with one channel, unsqueeze(1) reads as
        # NCHW and every layer after it would run NCHW; oneDNN's convolutions and max-pool
        # are faster in NHWC, in float32 and bf16 (bench/results/cnn_train_lcnn.md)
        h = x.unsqueeze(-1).permute(0, 3, 1, 2)
        m = mask[:, None, :, None].to(torch.float32)  # [B, 1, T, 1], 1 = real frame
        for stage in self.stages:
            # masking costs a full pass per layer; a batch without padding skips it
            padded = not bool(m.min())
            for layer in stage[:-1]:
                h = layer(h)
                if padded:  # re-zero padding (a multiply: ~3x cheaper than masked_fill)
                    h = h * m.to(h.dtype)
            last = stage[-1]
            # without batch norm (the stem) the 2x2 max-pool and the max-feature-map are both
            # maxima and commute: pooling first runs the MFM on a quarter of the values
            pool_first = not any(isinstance(layer, nn.BatchNorm2d) for layer in last)
            h = last[0](h) if pool_first else last(h)
            if padded:  # padded frames must not win the max: push them to the dtype's minimum
                h = h + (m.to(h.dtype) - 1) * -torch.finfo(h.dtype).min
            h = F.max_pool2d(h, 2, ceil_mode=True)
            if pool_first:
                h = last[1](h)
            m = F.max_pool2d(m, (2, 1), ceil_mode=True)
            if padded:
                h = h * m.to(h.dtype)
        return h, m

    def project(self, emb):
        return F.normalize(self.projector(emb), dim=-1)


@HEADS.register("lcnn")
class LCNNHead(TorchHead):
    """Small LCNN (max-feature-map CNN) trained end to end on frame-level LFCC/mel features (needs frames)."""

    needs = "frames"
    registry_name = "lcnn"
    bf16_gains = True  # its 2-D convolutions run faster in bf16 (bench/bench_cnn_train.py)

    def __init__(self, channels: Sequence[int] = (16, 24, 32, 32), embedding_dim: int = 64, dropout: float = 0.3,
                 lr: float = 1e-3, weight_decay: float = 1e-2, epochs: int = 30, batch_size: int = 32,
                 patience: int = 5, projection_dim: int = 128, eval_batch_size: int = 1024,
                 train_precision: str = "auto", loss="ce", random_state=0):
        self.channels = channels
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        super().__init__(lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size, patience=patience,
                         projection_dim=projection_dim, eval_batch_size=eval_batch_size,
                         train_precision=train_precision, loss=loss, random_state=random_state)

    def check_params(self) -> None:
        super().check_params()
        if len(self.channels) < 1 or any(int(c) < 1 for c in self.channels):
            raise ValueError(f"lcnn needs at least one channel size, each >= 1; got {self.channels!r}")
        if int(self.embedding_dim) < 1 or not 0 <= float(self.dropout) < 1:
            raise ValueError("lcnn: need embedding_dim >= 1 and dropout in [0, 1)")

    def build_module(self, in_dim):
        return LCNNNet(in_dim, [int(c) for c in self.channels], int(self.embedding_dim), float(self.dropout),
                       int(self.projection_dim))
