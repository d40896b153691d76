"""Handcrafted spectral features, with the STFT computed once per clip.

Pooled output (the original baseline): mean spectral centroid, mean mel-spectrogram
entropy and the 13 MFCC means; optionally LFCC means and per-feature standard
deviations. Frame output: LFCC (+ deltas) per frame for GMM / LCNN-style heads, optionally followed by
``frame_mel`` log-mel bands (a second, mel-scale view of the same frames).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.fft import dct, rfft

from scaa.dsp.audio import SAMPLE_RATE
from scaa.encoders.base import Encoder
from scaa.dsp.melbank import mel_filterbank
from scaa.registry import ENCODERS

EPS = 1e-10


@lru_cache(maxsize=8)
def mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney mel filters [n_mels, n_fft//2+1] (cached)."""
    return mel_filterbank(sr, n_fft, n_mels)  # librosa's, to the bit, without importing it


@lru_cache(maxsize=8)
def linear_basis(sr: int, n_fft: int, n_filters: int) -> np.ndarray:
    """Triangular filters equally spaced in Hz (the LFCC front end)."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = np.linspace(0, sr / 2, n_filters + 2)
    basis = np.zeros((n_filters, freqs.size), dtype=np.float32)
    for i in range(n_filters):
        lo, mid, hi = edges[i:i + 3]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        basis[i] = np.maximum(0, np.minimum(up, down))
    return basis


@lru_cache(maxsize=8)
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window of ``n_fft`` samples, float32 (cached)."""
    return np.hanning(n_fft + 1)[:-1].astype(np.float32)


def power_spectrogram(wave: np.ndarray, n_fft: int = 512, hop: int = 160) -> np.ndarray:
    """|STFT|^2 as [frames, n_fft//2+1], centre-padded like librosa's default."""
    pad = n_fft // 2
    x = np.pad(wave.astype(np.float32, copy=False), pad, mode="reflect" if wave.size > pad else "constant")
    n_frames = 1 + (x.size - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(x, (n_frames, n_fft), (x.strides[0] * hop, x.strides[0]))
    spec = rfft(frames * hann_window(n_fft), axis=1)
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


def deltas(feats: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas along time (the HTK formula), edge-padded."""
    n = np.arange(1, width + 1, dtype=np.float32)
    padded = np.pad(feats, ((width, width), (0, 0)), mode="edge")
    t = feats.shape[0]
    out = np.zeros_like(feats)
    for k in n.astype(int):
        out += k * (padded[width + k:width + k + t] - padded[width - k:width - k + t])
    return out / (2 * float((n ** 2).sum()))


@ENCODERS.register("spectral")
class SpectralEncoder(Encoder):
    """Handcrafted: spectral centroid, mel entropy, 13 MFCC means (+ optional LFCC, stds, frames)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = 512, hop: int = 160, n_mels: int = 40,
                 n_mfcc: int = 13, lfcc: bool = False, n_lfcc: int = 20, n_linear: int = 20,
                 stats: tuple = ("mean",), output: str = "pooled", lfcc_deltas: bool = True,
                 frame_mel: int = 0):
        if output not in ("pooled", "frames"):
            raise ValueError("spectral output must be 'pooled' or 'frames'")
        bad = set(stats) - {"mean", "std"}
        if bad:
            raise ValueError(f"unknown stats {sorted(bad)}")
        self.sr, self.n_fft, self.hop = sample_rate, n_fft, hop
        self.n_mels, self.n_mfcc = n_mels, n_mfcc
        self.lfcc, self.n_lfcc, self.n_linear = lfcc, n_lfcc, n_linear
        self.stats, self.output, self.lfcc_deltas = tuple(stats), output, lfcc_deltas
        if int(frame_mel) < 0 or (frame_mel and output != "frames"):
            raise ValueError("frame_mel (log-mel bands appended per frame) needs output: frames and must be >= 0")
        self.frame_mel = int(frame_mel)  # a second spectral view per frame, e.g. for the xattn head
        self.freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=np.float32)

    def encode(self, waves):
        return [self.encode_one(w) for w in waves]

    def frame_features(self, power: np.ndarray) -> np.ndarray:
        """[T, F] per-frame features from one power spectrogram."""
        if self.output == "frames":
            lfcc = self._lfcc(power, with_deltas=self.lfcc_deltas)
            if not self.frame_mel:
                return lfcc
            mel = np.log(power @ mel_basis(self.sr, self.n_fft, self.frame_mel).T + EPS)
            return np.concatenate([lfcc, mel], axis=1).astype(np.float32)
        total = power.sum(axis=1) + EPS
        centroid = (power @ self.freqs) / total
        mel = power @ mel_basis(self.sr, self.n_fft, self.n_mels).T
        p = mel / (mel.sum(axis=1, keepdims=True) + EPS)
        entropy = -(p * np.log2(p + EPS)).sum(axis=1)
        mfcc = dct(np.log(mel + EPS), type=2, norm="ortho", axis=1)[:, :self.n_mfcc]
        parts = [centroid[:, None], entropy[:, None], mfcc]
        if self.lfcc:
            parts.append(self._lfcc(power, with_deltas=False))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def encode_one(self, wave: np.ndarray) -> np.ndarray:
        frames = self.frame_features(power_spectrogram(wave, self.n_fft, self.hop))
        if self.output == "frames":
            return frames
        pooled = [frames.mean(axis=0)] + ([frames.std(axis=0)] if "std" in self.stats else [])
        return np.concatenate(pooled).astype(np.float32)

    def _lfcc(self, power, with_deltas):
        lin = power @ linear_basis(self.sr, self.n_fft, self.n_linear).T
        c = dct(np.log(lin + EPS), type=2, norm="ortho", axis=1)[:, :self.n_lfcc].astype(np.float32)
        if with_deltas:
            d = deltas(c)
            c = np.concatenate([c, d, deltas(d)], axis=1)
        return c

    def describe(self):
        return {"dim_per_frame": 2 + self.n_mfcc + (self.n_lfcc if self.lfcc else 0)}
