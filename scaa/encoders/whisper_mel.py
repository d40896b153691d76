"""Whisper's log-mel spectrogram, computed for a batch of clips without padding to 30 s.

Same arithmetic as transformers' ``WhisperFeatureExtractor`` (and OpenAI's
``log_mel_spectrogram``): a centred 400-point STFT (periodic Hann window, reflect padding)
with hop 160 whose last frame is dropped, power spectrum, Slaney mel filters (0-8 kHz),
``log10(max(mel, 1e-10))`` floored at the clip's maximum minus 8, then ``(x + 4) / 4``.
A clip of N samples gives N // 160 frames. The floor uses each clip's own maximum; with
the 30 s zero padding the reference applies, the maximum is the same unless the clip is
silent, because padding only adds frames at the 1e-10 floor.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from scaa.dsp.audio import SAMPLE_RATE
from scaa.dsp.melbank import mel_filterbank

N_FFT = 400
HOP = 160
CHUNK_SAMPLES = 30 * SAMPLE_RATE  # Whisper's positional table covers 30 s
MIN_SAMPLES = N_FFT  # the centred STFT reflects n_fft // 2 samples: shorter clips cannot be framed


def _torch():
    import torch

    return torch


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = 80) -> np.ndarray:
    """[n_mels, 201] Slaney-style mel filter bank (librosa's, as OpenAI ships it; computed
    by :mod:`scaa.dsp.melbank`, equal to librosa's to the bit)."""
    return mel_filterbank(SAMPLE_RATE, N_FFT, n_mels, fmin=0.0, fmax=8000.0)


@lru_cache(maxsize=4)
def _filters_tensor(n_mels: int):
    return _torch().from_numpy(mel_filters(n_mels))


@lru_cache(maxsize=1)
def _window():
    return _torch().hann_window(N_FFT)


def n_frames(n_samples: int) -> int:
    """Mel frames for a clip of ``n_samples``."""
    return int(n_samples) // HOP


def log_mel(waves: list[np.ndarray], n_mels: int = 80):
    """(mel [B, n_mels, F] float32 tensor, frames [B] tensor): clips padded with zeros
    *after* their own log-mel, to the longest clip's frame count."""
    torch = _torch()
    if not waves:
        raise ValueError("log_mel needs at least one waveform")
    lengths = [int(np.asarray(w).size) for w in waves]
    if min(lengths) < MIN_SAMPLES:
        raise ValueError(f"whisper needs clips of at least {MIN_SAMPLES} samples "
                         f"({MIN_SAMPLES / SAMPLE_RATE * 1000:.0f} ms); got {min(lengths)}")
    frames = [n_frames(n) for n in lengths]
    out = torch.zeros(len(waves), n_mels, max(frames))
    filters = _filters_tensor(n_mels)
    # one STFT per group of equal-length clips (a length bucket is mostly one group)
    by_len: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        by_len.setdefault(n, []).append(i)
    for n, idx in by_len.items():
        x = torch.from_numpy(np.stack([np.asarray(waves[i], dtype=np.float32) for i in idx]))
        spec = torch.stft(x, N_FFT, HOP, window=_window(), center=True, pad_mode="reflect", return_complex=True)
        power = spec[..., :-1].abs().square()                     # [b, 201, F]
        mel = torch.matmul(filters, power).clamp_min(1e-10).log10()  # [b, n_mels, F]
        floor = mel.amax(dim=(1, 2), keepdim=True) - 8.0
        mel = (torch.maximum(mel, floor) + 4.0) / 4.0
        out[idx, :, :mel.shape[-1]] = mel
    return out, torch.tensor(frames, dtype=torch.long)
