"""Slaney-style mel filter banks in numpy, equal to the bit to ``librosa.filters.mel``.

Equal, that is, with librosa's defaults (Slaney mel scale, Slaney area normalisation,
float32).

Why not librosa itself: importing it (and numba under it) costs about 0.3 s, paid by every
``scaa detect`` start and every spectral extraction job for a matrix computed once.
tests/test_melbank.py compares the two over the settings the encoders use.
"""
from __future__ import annotations

import numpy as np

_HZ_PER_MEL = 200.0 / 3  # linear part of the Slaney scale, below 1 kHz
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0  # mels per natural-log step above 1 kHz


def hz_to_mel(hz) -> np.ndarray:
    """Slaney mel of frequencies in Hz: linear below 1 kHz, logarithmic above."""
    hz = np.asanyarray(hz, dtype=np.float64)
    mel = hz / _HZ_PER_MEL
    if hz.ndim == 0:
        return _LOG_START_MEL + np.log(hz / _LOG_START_HZ) / _LOG_STEP if hz >= _LOG_START_HZ else mel
    above = hz >= _LOG_START_HZ
    mel[above] = _LOG_START_MEL + np.log(hz[above] / _LOG_START_HZ) / _LOG_STEP
    return mel


def mel_to_hz(mel) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asanyarray(mel, dtype=np.float64)
    hz = _HZ_PER_MEL * mel
    if mel.ndim == 0:
        return _LOG_START_HZ * np.exp(_LOG_STEP * (mel - _LOG_START_MEL)) if mel >= _LOG_START_MEL else hz
    above = mel >= _LOG_START_MEL
    hz[above] = _LOG_START_HZ * np.exp(_LOG_STEP * (mel[above] - _LOG_START_MEL))
    return hz


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] float32 triangles, evenly spaced in mel between fmin and fmax
    (default sr / 2), each scaled to unit area over Hz (2 / its width)."""
    if fmax is None:
        fmax = float(sr) / 2
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), int(n_mels) + 2))
    bins = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    width = np.diff(edges)
    dist = np.subtract.outer(edges, bins)  # edge minus bin frequency
    rising = -dist[:-2] / width[:-1, None]
    falling = dist[2:] / width[1:, None]
    weights = np.maximum(0, np.minimum(rising, falling)).astype(np.float32)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # float64 product, stored as float32
    return weights
