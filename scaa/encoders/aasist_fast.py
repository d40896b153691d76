"""The AASIST residual encoder's fast float32 inference path (eval mode, no autograd).

The same function as the network's front end and residual blocks with less work: only the
69 sinc filters the 3 x 3 pool keeps, BatchNorms folded into the preceding convolution,
channels-last convolutions (oneDNN's fast layout on CPU), the first block's one-channel
convolution and residual as one matrix product, and every block run over time tiles that
stay in cache. Built from a network's current parameters; not a module.
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

    TILE = 3 * 1024
    """Time columns of a block's input per tile (a multiple of 3, the pool's width)."""

    def __init__(self, net: AASISTNet):
        with torch.no_grad():
            kept = 3 * (net.sinc.shape[0] // 3)  # the 3 x 3 pool drops the filters past the last full group
            self.sinc = net.sinc[:kept].unsqueeze(1).contiguous()
            bn = net.first_bn
            scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).item()
            self.bn_scale, self.bn_shift = scale, (bn.bias - bn.running_mean * scale).item()
            self.blocks = [self._block_params(seq[0]) for seq in net.encoder]

    @staticmethod
    def _block_params(blk: ResidualBlock) -> dict:
        w1, b1 = fold_batch_norm(blk.conv1, blk.bn2)
        params = {"w1": w1, "b1": b1, "w2": blk.conv2.weight.detach().contiguous(memory_format=torch.channels_last),
                  "b2": blk.conv2.bias.detach(), "ds": None}
        if blk.conv_downsample is not None:
            params["ds"] = (blk.conv_downsample.weight.detach().contiguous(memory_format=torch.channels_last),
                            blk.conv_downsample.bias.detach())
        if w1.shape[1] == 1 and params["ds"] is not None:
            # one input channel: conv1 and the residual conv as one GEMM over the 6 taps of
            # x rows (r-1, r) x columns (c-1, c, c+1); the residual uses only row r's taps
            c_out = w1.shape[0]
            ds_w = torch.zeros(c_out, 2, 3)
            ds_w[:, 1] = params["ds"][0][:, 0, 0]
            params["gemm"] = (torch.cat([w1[:, 0].reshape(c_out, 6), ds_w.reshape(c_out, 6)]).t().contiguous(),
                              torch.cat([b1, params["ds"][1]]))
        return params

    def front(self, wave):
        x = F.conv1d(wave.unsqueeze(1), self.sinc)  # [B, 69, S - 128]
        b, f, t = x.shape
        x = x.abs().view(b, f // 3, 3, t).amax(dim=2)  # the 3 x 3 max-pool: over filters, then time
        t3 = t // 3
        x = x[..., :3 * t3].reshape(b, f // 3, t3, 3).amax(dim=-1)
        return F.selu(x * self.bn_scale + self.bn_shift).unsqueeze(1)

    def block(self, x, params):
        """One residual block, over time tiles so its maps stay in cache; the same numbers
        as one call (each tile carries the two neighbouring input columns either side, or
        the zeros the convolutions pad with at the clip's edges)."""
        t = x.shape[-1]
        end = 3 * (t // 3)  # the pool drops the columns past the last full group
        if end == 0:
            raise ValueError("the clip is too short for the encoder")
        return torch.cat([self._tile(x, s, min(s + self.TILE, end), params)
                          for s in range(0, end, self.TILE)], dim=-1)

    @staticmethod
    def _tile(x, s, e, params):
        """Pooled block output for its time columns [s, e)."""
        t = x.shape[-1]
        lo, hi = max(s - 2, 0), min(e + 2, t)
        piece = F.pad(x[..., lo:hi], (2 - (s - lo), 2 - (hi - e)))  # x at positions s-2 .. e+1
        if "gemm" in params:  # conv1 at positions s-1 .. e (channels-last by construction) + residual
            h, res = taps_gemm(piece, *params["gemm"])
        else:
            h = F.conv2d(piece, params["w1"], params["b1"], padding=(1, 0))
            res = None
        h = F.selu(h)
        if s == 0:  # conv2 pads conv1's output (not x) with zeros at the clip's edges
            h[..., 0] = 0
        if e == t:
            h[..., -1] = 0
        out = F.conv2d(h, params["w2"], params["b2"])  # positions s .. e-1
        if res is not None:
            out += res[..., 1:-1]
        elif params["ds"] is not None:
            out += F.conv2d(piece, params["ds"][0], params["ds"][1])[..., 1:-1]
        else:
            out += piece[..., 2:-2]
        return F.max_pool2d(out, (1, 3))

    def __call__(self, wave, n_blocks: int | None = None):
        with torch.no_grad():
            x = self.front(wave).contiguous(memory_format=torch.channels_last)
            for params in self.blocks if n_blocks is None else self.blocks[:n_blocks]:
                x = self.block(x, params)
            return x.contiguous()


def taps_gemm(piece, weight, bias):
    """conv1 (padding 1 in frequency, none in time) and the (1 x 3) residual conv of a
    one-channel piece [B, 1, F, W] as one matrix product: ([B, C, F+1, W-2] channels-last,
    [B, C, F, W-2])."""
    b, _, f, w = piece.shape
    xp = F.pad(piece[:, 0], (0, 0, 1, 1))  # rows -1 .. F
    taps = torch.stack([xp[:, r:r + f + 1, c:c + w - 2] for r in range(2) for c in range(3)], dim=-1)
    out = torch.addmm(bias, taps.reshape(-1, 6), weight).view(b, f + 1, w - 2, -1).permute(0, 3, 1, 2)
    c = out.shape[1] // 2
    return out[:, :c], out[:, c:, :f]
