"""The ``aasist`` encoder (:mod:`scaa.encoders.aasist`) as one torch module for the ONNX export.

Written so that ONNX can express it: waveform in, the encoder's features out, so a cell
exports as one graph.

The clip is first made the authors' evaluation input inside the graph: its first 64,600
samples, a shorter clip repeated until it is long enough (:func:`tile_clip`, as an index
``i mod n`` gather, so the graph keeps any input length). The network is the reference
:meth:`AASISTNet.forward` (eval, float32; its top-k graph pooling exports as TopK + GatherElements),
not the fast path the encoder runs (folded BatchNorms, time tiles); the two agree to
float32 rounding (tests/test_export_onnx_aasist.py).
"""
from __future__ import annotations

import torch
from torch import nn

from scaa.encoders.aasist import AASISTEncoder
from scaa.encoders.aasist_net import SAMPLES


class AASISTFrontEnd(nn.Module):
    """wave [1, N] float32 -> the encoder's features: score [1, 1], logits [1, 2], embedding
    [1, 5 x gat_dims[1]] or frames [1, T, C x 23] (the maps entering the encoder's stage)."""

    def __init__(self, enc: AASISTEncoder):
        super().__init__()
        self.net = enc.net
        self.kind, self.stage = enc.kind, enc.stage

    @staticmethod
    def tile(wave: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, 64600]: sample i is wave[i mod N] (the first 64,600 samples of a long clip)."""
        n = torch._shape_as_tensor(wave)[1]
        return wave.index_select(1, torch.remainder(torch.arange(SAMPLES), n))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.tile(wave.float())
        if self.kind == "frames":
            maps = self.net.encode_maps(self.net.front(x), slice(0, self.net.n_stages - self.stage))  # [B, C, 23, T]
            return maps.permute(0, 3, 1, 2).reshape(maps.shape[0], maps.shape[3], -1)
        emb, logits = self.net(x)
        if self.kind == "score":
            return logits[:, 1:]
        return logits if self.kind == "logits" else emb
