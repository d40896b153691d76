"""The whisper encoder's forward (:mod:`scaa.encoders.whisper`) in torch ops for the ONNX export.

Written in ops that ONNX can express, so a whisper cell exports as one graph: waveform
in, features out.

Everything the encoder does for one clip happens inside the graph, with the clip length
as the only dynamic size:

- the cut into equal windows of at most 30 s (``WhisperEncoder.windows``), each a row of a
  batch; rows are gathered from the waveform with their own reflect padding, so every
  window's STFT sees exactly the samples ``torch.stft`` sees on that window alone;
- the log-mel of :mod:`scaa.encoders.whisper_mel`: the STFT is a strided 1-D convolution
  with a Hann-windowed DFT basis, the mel bank a matrix product, the floor at each window's
  own maximum minus 8 a masked max;
- conv1 / conv2 with the padding frames of a shorter last window zeroed, positions from 0,
  the transformer layers written out (pre-norm attention with a key mask, GELU feed-forward),
  the final LayerNorm when the last layer is chosen, the mean over chosen layers;
- the windows' frames concatenated, then mean / mean+std pooling or the frames themselves.

Only the float32 encoder is expressed: the bfloat16 and dynamic-int8 variants compute
differently, and an export of them is refused in :func:`scaa.inference.export.scorer_module`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scaa.encoders.whisper_mel import CHUNK_SAMPLES, HOP, N_FFT, mel_filters

NEG = -1e30  # masked logits / maxima; finite, so a fully masked row cannot make NaN


def _index_along(x: torch.Tensor) -> torch.Tensor:
    """0, 1, ..., len(x) - 1 (float) as a traced op, so the graph keeps the length dynamic."""
    return torch.cumsum(torch.ones_like(x), 0) - 1


def encoder_layer(layer, h: torch.Tensor, key_bias: torch.Tensor | None) -> torch.Tensor:
    """transformers' ``WhisperEncoderLayer`` in inference: ``h + attn(norm(h))``, then
    ``h + fc2(gelu(fc1(norm(h))))``; ``key_bias`` [S, 1, 1, T] masks padding keys."""
    attn = layer.self_attn
    x = layer.self_attn_layer_norm(h)
    heads = attn.num_heads
    split = lambda t: t.unflatten(-1, (heads, -1)).transpose(1, 2)  # noqa: E731  [S, H, T, dh]
    q, k, v = split(attn.q_proj(x) * attn.scaling), split(attn.k_proj(x)), split(attn.v_proj(x))
    logits = q @ k.transpose(-1, -2)
    if key_bias is not None:
        logits = logits + key_bias
    out = (torch.softmax(logits, dim=-1) @ v).transpose(1, 2).flatten(2)
    h = h + attn.out_proj(out)
    return h + layer.fc2(F.gelu(layer.fc1(layer.final_layer_norm(h))))


class WhisperFrontEnd(nn.Module):
    """wave [1, N] float32 -> pooled features [1, D] or frames [1, T, D], as ``WhisperEncoder.encode``."""

    def __init__(self, enc):
        super().__init__()
        net = enc.model.encoder
        self.conv1, self.conv2 = net.conv1, net.conv2
        self.layers = nn.ModuleList(net.layers[:max(enc.layers)])
        self.final_norm = net.layer_norm
        self.n_layers, self.chosen, self.pooling = enc.n_layers, list(enc.layers), enc.pooling
        self.register_buffer("positions", net.embed_positions.weight.detach().float().clone())
        n_bins = N_FFT // 2 + 1
        t, f = np.arange(N_FFT), np.arange(n_bins)
        ang = 2 * np.pi * f[:, None] * t[None, :] / N_FFT
        win = torch.hann_window(N_FFT, dtype=torch.float64).numpy()  # periodic, as torch.stft gets it
        basis = lambda a: torch.from_numpy((a * win[None, :]).astype(np.float32)[:, None, :])  # noqa: E731
        self.register_buffer("dft_re", basis(np.cos(ang)))
        self.register_buffer("dft_im", basis(-np.sin(ang)))
        self.register_buffer("mel", torch.from_numpy(mel_filters(enc.n_mels).copy()))

    def windows(self, wave: torch.Tensor):
        """Rows [S, size + N_FFT] (each window reflect-padded by N_FFT // 2 on its own samples)
        and each window's sample count [S]."""
        n = torch._shape_as_tensor(wave)[1]
        n_win = torch.div(n + CHUNK_SAMPLES - 1, CHUNK_SAMPLES, rounding_mode="floor")
        size = torch.div(n + n_win - 1, n_win, rounding_mode="floor")
        count = torch.div(n + size - 1, size, rounding_mode="floor")
        starts = torch.arange(count) * size
        lengths = torch.minimum(n - starts, size)[:, None]
        pad = N_FFT // 2
        i = (torch.arange(size + 2 * pad) - pad)[None, :]
        i = torch.where(i < 0, -i, i)
        i = torch.where(i >= lengths, 2 * (lengths - 1) - i, i)
        i = torch.minimum(torch.clamp(i, min=0), lengths - 1)  # beyond the reflection: masked frames
        return wave[0][starts[:, None] + i], lengths[:, 0]

    def log_mel(self, rows: torch.Tensor, lengths: torch.Tensor):
        """(log-mel [S, n_mels, F] with padding frames zero, frame mask [S, F])."""
        x = rows[:, None, :]
        re = F.conv1d(x, self.dft_re, stride=HOP)[..., :-1]  # the centred STFT's last frame is dropped
        im = F.conv1d(x, self.dft_im, stride=HOP)[..., :-1]
        mel = torch.matmul(self.mel, re * re + im * im).clamp_min(1e-10).log10()
        frame = _index_along(mel[0, 0])
        mask = frame[None, :] < torch.div(lengths, HOP, rounding_mode="floor")[:, None].to(frame.dtype)
        m3 = mask[:, None, :]
        floor = torch.where(m3, mel, torch.full_like(mel, NEG)).amax(dim=(1, 2), keepdim=True) - 8.0
        mel = (torch.maximum(mel, floor) + 4.0) / 4.0
        return mel * m3.to(mel.dtype), mask

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        rows, lengths = self.windows(wave)
        mel, mel_mask = self.log_mel(rows, lengths)
        h = F.gelu(self.conv1(mel)) * mel_mask[:, None, :].to(mel.dtype)
        h = F.gelu(self.conv2(h)).transpose(1, 2)                       # [S, T, D]
        frame = _index_along(h[0, :, 0])
        h = h + self.positions.index_select(0, frame.long())
        frames = torch.div(torch.div(lengths, HOP, rounding_mode="floor") - 1, 2, rounding_mode="floor") + 1
        mask = frame[None, :] < frames[:, None].to(frame.dtype)         # [S, T]
        key_bias = torch.where(mask, 0.0, NEG)[:, None, None, :]
        states = [h]
        for layer in self.layers:
            h = encoder_layer(layer, h, key_bias)
            states.append(h)
        if len(self.layers) == self.n_layers:
            states[-1] = self.final_norm(states[-1])
        chosen = [states[i] for i in self.chosen]
        h = torch.stack(chosen).mean(0) if len(chosen) > 1 else chosen[0]
        frames_all = h.reshape(-1, h.shape[-1])[mask.reshape(-1)]       # windows' frames, in order
        if self.pooling == "none":
            return frames_all[None]
        mean = frames_all.mean(0)
        if self.pooling == "mean":
            return mean[None]
        return torch.cat([mean, torch.sqrt(((frames_all - mean) ** 2).mean(0))])[None]
