"""The AASIST residual encoder's fast float32 inference path (eval mode, no autograd).

The same function as the network's front end and residual blocks with less work: the 69
sinc filters the 3 x 3 pool keeps, applied as one large matrix product; BatchNorms and
SELU's scale folded into the neighbouring convolutions; channels-last convolutions
(oneDNN's fast layout on CPU); the first block's one-channel convolution and residual as
matrix products over their taps; and every block run over time tiles that stay in cache.
Built from a network's current parameters; not a module.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from scaa.encoders.aasist_net import AASISTNet, ResidualBlock


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias of conv followed by an eval-mode BatchNorm, as one convolution."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = conv.weight * scale[:, None, None, None]
    b = (conv.bias - bn.running_mean) * scale + bn.bias
    return w.detach().contiguous(memory_format=torch.channels_last), b.detach().contiguous()


class FastEncoder:
    """Eval-mode front end + residual encoder with folded BatchNorms and channels-last
    convolutions (built from the network's current parameters; not a module)."""

    TILE = 3 * 256
    """Time columns of a block's input per tile (a multiple of 3, the pool's width)."""

    PHASES = 16
    """Output samples per row of the sinc filters' matrix product (see polyphase_weights)."""

    def __init__(self, net: AASISTNet):
        with torch.no_grad():
            kept = 3 * (net.sinc.shape[0] // 3)  # the 3 x 3 pool drops the filters past the last full group
            self.sinc_taps = net.sinc.shape[1]
            self.sinc_gemm = polyphase_weights(net.sinc[:kept], self.PHASES)
            bn = net.first_bn
            scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).item()
            self.bn_scale, self.bn_shift = scale, (bn.bias - bn.running_mean * scale).item()
            self.blocks = [self._block_params(seq[0]) for seq in net.encoder]

    @staticmethod
    def _block_params(blk: ResidualBlock) -> dict:
        w1, b1 = fold_batch_norm(blk.conv1, blk.bn2)
        # conv2 reads SELU(h) = LAMBDA * (shifted_selu(h) - ALPHA): LAMBDA goes into its
        # weights and -LAMBDA * ALPHA * (sum of each filter's weights) into its bias
        w2 = blk.conv2.weight.detach() * SELU_LAMBDA
        b2 = blk.conv2.bias.detach().clone()
        params = {"w1": w1, "w2": w2.contiguous(memory_format=torch.channels_last), "ds": None,
                  "b1": b1, "b2": b2 - SELU_ALPHA * w2.sum(dim=(1, 2, 3)), "b2_elu": b2}
        if blk.conv_downsample is not None:
            params["ds"] = (blk.conv_downsample.weight.detach().contiguous(memory_format=torch.channels_last),
                            blk.conv_downsample.bias.detach())
        if w1.shape[1] == 1 and params["ds"] is not None:
            # one input channel: conv1 is a matrix product over its 6 taps (x rows r-1, r x
            # columns c-1, c, c+1), the residual conv one over its 3, added into conv2's
            # output by the product itself (its bias joins conv2's)
            c_out = w1.shape[0]
            params["taps"] = (w1[:, 0].reshape(c_out, 6).t().contiguous(), b1)
            params["residual_taps"] = params["ds"][0][:, 0, 0].t().contiguous()  # [3, C]
            params["b2"] = params["b2"] + params["ds"][1]
            params["b2_elu"] = params["b2_elu"] + params["ds"][1]
        return params

    def front(self, wave):
        """[B, S] -> [B, 1, 23, T]: the sinc filters as one matrix product (time-major
        output), |.|, the 3 x 3 max-pool, the BatchNorm and SELU."""
        b, n = wave.shape
        t3 = (n - self.sinc_taps + 1) // 3  # pooled columns: the pool drops a ragged last group
        need = 3 * t3
        x = sinc_filter_bank(wave, self.sinc_gemm, self.PHASES, need)  # [B, need, 69]
        f = x.shape[-1]
        x = x.abs_().view(b, t3, 3, f).amax(dim=2)  # over time, then over filters
        x = x.view(b, t3, f // 3, 3).amax(dim=-1)  # [B, T, 23]
        x = F.selu(x * self.bn_scale + self.bn_shift)
        return x.transpose(1, 2).unsqueeze(1).contiguous()

    def block(self, x, params):
        """One residual block, over time tiles so its maps stay in cache; the same numbers
        as one call (each tile carries the two neighbouring input columns either side, or
        the zeros the convolutions pad with at the clip's edges)."""
        b, _, f, t = x.shape
        end = 3 * (t // 3)  # the pool drops the columns past the last full group
        if end == 0:
            raise ValueError("the clip is too short for the encoder")
        c_out = params["w2"].shape[0]
        out = pooled = None
        for s in range(0, end, self.TILE):
            e = min(s + self.TILE, end)
            y = self._tile(x, s, e, params).permute(0, 2, 3, 1)  # [B, F, e - s, C], contiguous
            if out is None:  # the tile's dtype: float32, or bfloat16 under autocast
                out = torch.empty(b, c_out, f, end // 3, dtype=y.dtype, memory_format=torch.channels_last)
                pooled = out.permute(0, 2, 3, 1)  # the same memory as [B, F, T / 3, C], contiguous
            torch.amax(y.view(b, f, (e - s) // 3, 3, c_out), dim=3, out=pooled[:, :, s // 3:e // 3])
        return out

    @staticmethod
    def _tile(x, s, e, params):
        """The block's output before its pool for time columns [s, e) (channels-last)."""
        t = x.shape[-1]
        lo, hi = max(s - 2, 0), min(e + 2, t)
        piece = F.pad(x[..., lo:hi], (2 - (s - lo), 2 - (hi - e)))  # x at positions s-2 .. e+1
        if "taps" in params:  # conv1 at positions s-1 .. e, channels-last by construction
            h = taps_gemm(piece, *params["taps"])
        else:
            h = F.conv2d(piece, params["w1"], params["b1"], padding=(1, 0))
        if h.dtype == torch.float32:
            h, edge, bias = shifted_selu_(h), SELU_ALPHA, params["b2"]
        else:  # bfloat16 under autocast: its 8 bits would not survive the shift by ALPHA
            h, edge, bias = F.elu(h, SELU_ALPHA), 0.0, params["b2_elu"]
        if s == 0:  # conv2 pads SELU(conv1) with zeros at the clip's edges (shifted: ALPHA)
            h[..., 0] = edge
        if e == t:
            h[..., -1] = edge
        out = F.conv2d(h, params["w2"], bias)  # positions s .. e-1
        if "residual_taps" in params:
            add_residual_taps_(out, piece, params["residual_taps"])
        elif params["ds"] is not None:
            out += F.conv2d(piece, params["ds"][0], params["ds"][1])[..., 1:-1]
        else:
            out += piece[..., 2:-2]
        return out

    def __call__(self, wave, n_blocks: int | None = None):
        with torch.no_grad():
            x = self.front(wave).contiguous(memory_format=torch.channels_last)
            for params in self.blocks if n_blocks is None else self.blocks[:n_blocks]:
                x = self.block(x, params)
            return x.contiguous()


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946


def shifted_selu_(h):
    """In place: SELU(h) / LAMBDA + ALPHA = max(h, 0) + ALPHA * exp(min(h, 0)). Four cheap
    passes over a tile in cache take about half the time of torch's SELU, whose expm1 is
    the slow part; the constant and the scale are folded into the next convolution."""
    neg = torch.clamp_max(h, 0.0).exp_()
    return h.clamp_min_(0.0).add_(neg, alpha=SELU_ALPHA)


def taps_gemm(piece, weight, bias):
    """conv1 (padding 1 in frequency, none in time) of a one-channel piece [B, 1, F, W]
    as one matrix product over its 6 taps: [B, C, F + 1, W - 2], channels-last."""
    b, _, f, w = piece.shape
    xp = F.pad(piece[:, 0], (0, 0, 1, 1))  # rows -1 .. F
    taps = torch.stack([xp[:, r:r + f + 1, c:c + w - 2] for r in range(2) for c in range(3)], dim=-1)
    return torch.addmm(bias, taps.view(-1, 6), weight).view(b, f + 1, w - 2, -1).permute(0, 3, 1, 2)


def add_residual_taps_(out, piece, weight):
    """out [B, C, F, W - 4] (channels-last) += the (1 x 3) convolution, without bias, of
    a one-channel piece [B, 1, F, W] at its columns 2 .. W - 3: one matrix product that
    accumulates into out's memory."""
    b, _, f, w = piece.shape
    taps = torch.stack([piece[:, 0, :, c:c + w - 4] for c in (1, 2, 3)], dim=-1)  # [B, F, W - 4, 3]
    flat = out.permute(0, 2, 3, 1).view(-1, out.shape[1])
    if flat.dtype == weight.dtype:
        flat.addmm_(taps.view(-1, 3), weight)
    else:  # bfloat16 under autocast, which in-place products do not follow
        flat += taps.view(-1, 3) @ weight


def polyphase_weights(filters, phases: int):
    """[K, phases * n_filters]: filters [n_filters, k] laid out so that one row of
    ``phases + k - 1`` samples (rounded up to a multiple of ``phases``) times this
    matrix gives ``phases`` consecutive outputs of every filter. Filtering becomes one
    large matrix product instead of a one-input-channel convolution, which runs far
    below the core's peak."""
    n_filters, k = filters.shape
    width = -(-(k + phases - 1) // phases) * phases
    weights = torch.zeros(width, phases, n_filters, dtype=filters.dtype)
    for q in range(phases):
        weights[q:q + k, q] = filters.t()
    return weights.view(width, phases * n_filters).contiguous()


def sinc_filter_bank(wave, weights, phases: int, need: int):
    """The valid cross-correlation of wave [B, S] with the filters behind ``weights``
    (see polyphase_weights), first ``need`` outputs, time-major: [B, need, n_filters]."""
    b, n = wave.shape
    width = weights.shape[0]
    rows = -(-need // phases)
    short = (rows - 1) * phases + width - n
    if short > 0:  # the last row reads past the clip: those outputs are dropped below
        wave = F.pad(wave, (0, short))
    frames = wave.unfold(1, width, phases)[:, :rows]  # [B, rows, width], a view
    out = torch.matmul(frames, weights)  # [B, rows, phases * n_filters]
    return out.view(b, rows * phases, -1)[:, :need]
