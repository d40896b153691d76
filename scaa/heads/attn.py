"""Attentive statistics pooling (Okabe et al. 2018) over frame features [T, D], then an MLP.

Frames get a learned softmax weight each; the weighted mean and standard deviation
(2D values) feed :class:`scaa.heads.mlp.MLPNet`. Padding is masked out exactly, so a
clip's score does not depend on what it is batched with.

Speed (bench/results/cnn_train_attn.md): the attention MLP runs over every frame, so its
elementwise passes and the pooling dominate an epoch; :meth:`AttnNet.frame_scores` and
:func:`attentive_stats` compute the same functions with fewer passes.
"""
from __future__ import annotations

import functools
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from scaa.heads.mlp import MLPNet, check_mlp_params
from scaa.heads.torch_base import TorchHead
from scaa.registry import HEADS


def masked_stats(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted mean and std over time; x [B, T, D], w [B, T] summing to 1 -> [B, 2D].

    Elementwise sums; ``xattn`` pools with this one, so its published study figures
    reproduce to the bit. ``attn`` uses the faster :func:`attentive_stats`."""
    mu = (w[..., None] * x).sum(1)
    var = (w[..., None] * x * x).sum(1) - mu * mu
    return torch.cat([mu, var.clamp_min(1e-6).sqrt()], dim=-1)


def attentive_stats(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:func:`masked_stats` as batched matrix products (w·x, w·x²): the same values within
    float rounding, about twice as fast forward and backward; float32 even under autocast."""
    with torch.autocast(x.device.type, enabled=False):  # E[x²] − mu² needs float32, not bf16
        x, w = x.float(), w.float().unsqueeze(1)
        mu, ex2 = torch.bmm(w, x).squeeze(1), torch.bmm(w, x * x).squeeze(1)
        return torch.cat([mu, (ex2 - mu * mu).clamp_min(1e-6).sqrt()], dim=-1)


@functools.lru_cache(maxsize=None)
def _onednn_bf16() -> bool:
    """Whether this torch build runs oneDNN bf16 linear layers with a fused activation
    (a private op: probed with a tiny call, so a torch that changed it takes the plain ops)."""
    try:
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return False
        x, w, b = torch.ones(2, 3, dtype=torch.bfloat16), torch.ones(4, 3, dtype=torch.bfloat16), torch.zeros(4)
        y = torch.ops.mkldnn._linear_pointwise(x, w, b.bfloat16(), "sigmoid", [], "")
        return y.shape == (2, 4) and bool(torch.allclose(y.float(), torch.sigmoid(torch.full((2, 4), 3.0)), atol=1e-2))
    except (AttributeError, RuntimeError, TypeError):
        return False


def _linear_sigmoid_bf16(x, w, b):
    """sigmoid(x·wᵀ + b) in bfloat16: one oneDNN call (the sigmoid a post-op of the matrix
    product, no separate bias copy) where torch has it, else the plain ops."""
    if _onednn_bf16():
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "sigmoid", [], "")
    return torch.sigmoid(F.linear(x, w, b))


class _SigmoidAttentionBF16(torch.autograd.Function):
    """Frame scores e = v·sigmoid(Wx + b) in bfloat16 with a hand-written backward.

    With s = sigmoid(h) and g = dL/de, dL/dh = g·v·s(1 − s), so dL/dW = v ⊙ ((g·s(1 − s))ᵀ x)
    and dL/db = v ⊙ Σ g·s(1 − s): the [frames, attn_dim] activations are read twice and
    written once backward, where autograd writes g ⊗ v, then its sigmoid backward, then sums
    the bias gradient (about a tenth of a bf16 ``attn`` training pass; bench/results/cnn_train_attn.md).
    Only the activations s and the bf16 input are kept for backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, v):
        bf16 = torch.bfloat16
        x2 = x.reshape(-1, x.shape[-1]).to(bf16)
        w, vb = weight.to(bf16), v.to(bf16)
        s = _linear_sigmoid_bf16(x2, w, bias.to(bf16))
        ctx.save_for_backward(x2, w, s, vb)
        ctx.x_meta = (x.shape, x.dtype)
        return (s @ vb.unsqueeze(1)).reshape(x.shape[:-1])

    @staticmethod
    def backward(ctx, grad):
        x2, w, s, vb = ctx.saved_tensors
        shape, dtype = ctx.x_meta
        g = grad.reshape(-1, 1).to(s.dtype)
        dg = torch.addcmul(s, s, s, value=-1).mul_(g)  # g·s(1 − s) = dL/dh ÷ v
        vf = vb.float()
        gx = None
        if ctx.needs_input_grad[0]:
            gx = ((dg * vb) @ w).reshape(shape).to(dtype)
        gw = (x2.t() @ dg).t().float() * vf.unsqueeze(1)
        return gx, gw, dg.sum(0).float() * vf, (g.t() @ s).squeeze(0).float()


class AttnNet(nn.Module):
    def __init__(self, in_dim: int, attn_dim: int = 128, hidden: Sequence[int] = (128,), dropout: float = 0.1,
                 activation_name: str = "relu", projection_dim: int = 128):
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(in_dim, attn_dim), nn.Tanh(), nn.Linear(attn_dim, 1))
        self.mlp = MLPNet(2 * in_dim, hidden, dropout, activation_name, projection_dim)
        self.embedding_dim = self.mlp.embedding_dim

    def frame_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``self.attention(x)``, i.e. v·tanh(Wx + b) + c per frame, computed as
        (2v)·sigmoid(2Wx + 2b) + (c − Σv): the same function (tanh z = 2·sigmoid(2z) − 1),
        with one elementwise pass over the [B, T, attn_dim] activations (forward and
        backward) instead of tanh's, which torch runs several times slower than sigmoid on
        CPU. Scaling by 2 is exact, so the weights are used as they are saved."""
        first, last = self.attention[0], self.attention[2]
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") \
                and torch.get_autocast_dtype("cpu") == torch.bfloat16:
            e = _SigmoidAttentionBF16.apply(x, 2 * first.weight, 2 * first.bias, 2 * last.weight[0])
            return e.float() + (last.bias - last.weight.sum())
        h = F.linear(x, 2 * first.weight, 2 * first.bias)
        return F.linear(torch.sigmoid(h), 2 * last.weight, last.bias - last.weight.sum()).squeeze(-1)

    def forward(self, x, mask):
        e = self.frame_scores(x).masked_fill(~mask, float("-inf"))
        return self.mlp(attentive_stats(x, torch.softmax(e, dim=1)))

    def project(self, emb):
        return self.mlp.project(emb)


@HEADS.register("attn")
class AttnHead(TorchHead):
    """Attentive statistics pooling over frame-level features, then an MLP (needs frames)."""

    needs = "frames"
    registry_name = "attn"
    bf16_gains = True  # trains faster under bf16 autocast (bench/results/cnn_train_attn.md)
    pad_frames_to = 16  # fewer distinct batch shapes, so oneDNN reuses its matmul kernels

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
