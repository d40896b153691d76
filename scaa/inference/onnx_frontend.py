"""The spectral / LFCC front end (:mod:`scaa.encoders.spectral`) in torch ops for the ONNX export.

The handcrafted front end written in ops that ONNX can express, so a trained cell exports
as one graph: waveform in, score out.

The STFT is a strided 1-D convolution with a windowed DFT basis (real and imaginary
parts), the mel/linear filterbanks and the DCT are matrix products, the HTK deltas a
depthwise convolution over an edge-padded sequence. It reproduces
``SpectralEncoder.encode_one`` to float32 rounding (tests/test_export_onnx.py checks
this on clips); the one difference is that clips of 256 samples or fewer are
reflect-padded here where numpy pads with zeros, and such clips are rejected as too
short before they reach a model anyway.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scaa.encoders.spectral import EPS, SpectralEncoder, hann_window, linear_basis, mel_basis


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_in, n_out] such that ``x @ D`` equals scipy's ``dct(x, type=2, norm='ortho')[:, :n_out]``."""
    n = np.arange(n_in)
    k = np.arange(n_out)
    D = np.cos(np.pi * k[None, :] * (2 * n[:, None] + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    D[:, 0] /= np.sqrt(2.0)
    return D.astype(np.float32)


class SpectralFrontEnd(nn.Module):
    """wave [1, N] float32 -> pooled features [1, D] or frame features [1, T, D], as the encoder."""

    def __init__(self, enc: SpectralEncoder):
        super().__init__()
        self.enc_output, self.stats, self.lfcc, self.with_deltas = enc.output, enc.stats, enc.lfcc, enc.lfcc_deltas
        self.n_fft, self.hop = enc.n_fft, enc.hop
        n_bins = enc.n_fft // 2 + 1
        t = np.arange(enc.n_fft)
        f = np.arange(n_bins)
        ang = 2 * np.pi * f[:, None] * t[None, :] / enc.n_fft
        win = hann_window(enc.n_fft).astype(np.float64)
        basis = lambda a: torch.from_numpy((a * win[None, :]).astype(np.float32)[:, None, :])  # noqa: E731
        self.register_buffer("dft_re", basis(np.cos(ang)))
        self.register_buffer("dft_im", basis(-np.sin(ang)))
        self.register_buffer("freqs", torch.from_numpy(enc.freqs.astype(np.float32)))
        self.register_buffer("mel", torch.from_numpy(mel_basis(enc.sr, enc.n_fft, enc.n_mels).T.copy()))
        self.register_buffer("mfcc_dct", torch.from_numpy(dct_matrix(enc.n_mels, enc.n_mfcc)))
        self.register_buffer("lin", torch.from_numpy(linear_basis(enc.sr, enc.n_fft, enc.n_linear).T.copy()))
        self.register_buffer("lfcc_dct", torch.from_numpy(dct_matrix(enc.n_linear, enc.n_lfcc)))
        n_lfcc = enc.n_lfcc
        taps = torch.arange(-2, 3, dtype=torch.float32) / 10.0  # HTK deltas, width 2: sum k^2 = 5, times 2
        self.register_buffer("delta_kernel", taps.repeat(n_lfcc, 1)[:, None, :])

    def power(self, wave: torch.Tensor) -> torch.Tensor:
        """|STFT|^2 as [T, n_fft//2+1] (centre, reflect padding, periodic Hann window)."""
        pad = self.n_fft // 2
        x = F.pad(wave[:, None, :], (pad, pad), mode="reflect")
        re = F.conv1d(x, self.dft_re, stride=self.hop)[0]
        im = F.conv1d(x, self.dft_im, stride=self.hop)[0]
        return (re * re + im * im).transpose(0, 1)

    def lfcc_frames(self, power: torch.Tensor, with_deltas: bool) -> torch.Tensor:
        c = torch.log(power @ self.lin + EPS) @ self.lfcc_dct      # [T, n_lfcc]
        if not with_deltas:
            return c
        d = self.deltas(c)
        return torch.cat([c, d, self.deltas(d)], dim=1)

    def deltas(self, c: torch.Tensor) -> torch.Tensor:
        x = F.pad(c.transpose(0, 1)[None], (2, 2), mode="replicate")  # [1, D, T+4], edge padding
        return F.conv1d(x, self.delta_kernel, groups=c.shape[1])[0].transpose(0, 1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        power = self.power(wave)
        if self.enc_output == "frames":
            return self.lfcc_frames(power, self.with_deltas)[None]
        centroid = (power * self.freqs).sum(dim=1) / (power.sum(dim=1) + EPS)
        mel = power @ self.mel
        p = mel / (mel.sum(dim=1, keepdim=True) + EPS)
        entropy = -(p * torch.log2(p + EPS)).sum(dim=1)
        mfcc = torch.log(mel + EPS) @ self.mfcc_dct
        parts = [centroid[:, None], entropy[:, None], mfcc]
        if self.lfcc:
            parts.append(self.lfcc_frames(power, False))
        frames = torch.cat(parts, dim=1)
        pooled = [frames.mean(dim=0)]
        if "std" in self.stats:
            pooled.append(torch.sqrt(((frames - pooled[0]) ** 2).mean(dim=0)))
        return torch.cat(pooled)[None]
