"""Speech resynthesis and vocoding of a waveform (WORLD, Griffin-Lim, LPC, Codec 2), the resampler they share, and a synthetic test clip.

The demo corpus's spoof generators (:mod:`scaa.demo_corpus.generators`) and the
registered resynthesizers (:mod:`scaa.dsp.vocoders`) are both built on these functions.
"""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import numpy as np

from scaa.dsp.audio import SAMPLE_RATE as OUT_RATE

BAND_RATE = 8_000


class GeneratorError(RuntimeError):
    """A generator command failed; the message names the command and its stderr."""


def run_tool(cmd: list[str]) -> None:
    """Run an external tool; a failure is a :class:`GeneratorError` naming the command and its stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GeneratorError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[:300]}")


def resample(wave: np.ndarray, sr: int, target: int) -> np.ndarray:
    """``wave`` from ``sr`` to ``target`` Hz (soxr, high quality); unchanged if they are equal."""
    if sr == target:
        return wave
    import soxr
    return soxr.resample(wave, sr, target, quality="HQ")


def _pyworld():
    import warnings
    with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import pyworld
    return pyworld


def world_wave(x: np.ndarray, sr: int, f0_scale: float = 1.0) -> tuple[np.ndarray, int]:
    """WORLD resynthesis of a waveform (float64), returned at 16 kHz."""
    pw = _pyworld()
    # D4C's band edges reach 7.9 kHz: below 16 kHz it reads past the spectrum and its
    # voicing decision turns non-deterministic, so analyse at 16 kHz.
    x, sr = resample(x, sr, OUT_RATE), OUT_RATE
    f0, t = pw.dio(x, sr, frame_period=5.0)
    f0 = pw.stonemask(x, f0, t, sr)
    f0 = f0 * f0_scale
    sp = pw.cheaptrick(x, f0, t, sr)
    ap = pw.d4c(x, f0, t, sr)
    return pw.synthesize(f0, sp, ap, sr, 5.0), sr


@functools.lru_cache(maxsize=4)
def _mel_filters(sr: int, n_fft: int, n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangular HTK-mel filter bank [n_mels, bins] (area-normalised) and its pseudo-inverse."""
    def to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    edges = 700.0 * (10 ** (np.linspace(0.0, to_mel(sr / 2), n_mels + 2) / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    fb *= (2.0 / (hi - lo))
    return fb, np.linalg.pinv(fb)


def _stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    return np.fft.rfft(frames * window, axis=1)


def _istft(spec: np.ndarray, n_fft: int, hop: int, window: np.ndarray, norm: np.ndarray) -> np.ndarray:
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * window
    out = np.zeros(norm.size)
    for k in range(frames.shape[0]):  # overlap-add; a few hundred frames
        out[k * hop:k * hop + n_fft] += frames[k]
    return out / norm


def griffin_lim_wave(x: np.ndarray, sr: int, n_mels: int = 64, n_iter: int = 32,
                     seed: int = 0) -> tuple[np.ndarray, int]:
    """Mel -> magnitude -> fast Griffin-Lim of a waveform (float64), at its own rate."""
    n_fft, hop, momentum = 512, 128, 0.99
    length = x.size
    x = np.pad(x, (n_fft, n_fft + hop - (x.size % hop)))
    window = np.hanning(n_fft + 1)[:-1]
    n_frames = (x.size - n_fft) // hop + 1
    norm = np.zeros(x.size)
    for k in range(n_frames):
        norm[k * hop:k * hop + n_fft] += window ** 2
    norm = np.maximum(norm, 1e-3)
    fb, fb_inv = _mel_filters(sr, n_fft, n_mels)
    mel_power = fb @ (np.abs(_stft(x, n_fft, hop, window)) ** 2).T
    mag = np.sqrt(np.maximum(fb_inv @ mel_power, 0.0)).T
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(mag.shape))
    prev = 0.0
    for _ in range(n_iter):
        rebuilt = _stft(_istft(mag * angles, n_fft, hop, window, norm), n_fft, hop, window)
        accel = rebuilt - (momentum / (1 + momentum)) * prev
        angles = accel / (np.abs(accel) + 1e-12)
        prev = rebuilt
    y = _istft(mag * angles, n_fft, hop, window, norm)
    return y[n_fft: n_fft + length], sr


def lpc(frame: np.ndarray, order: int, sr: int = BAND_RATE) -> tuple[np.ndarray, float]:
    """Autocorrelation-method LPC: ``a`` (a[0] = 1, a stable all-pole filter) and the
    prediction-error power. A silent frame gives a flat filter."""
    from scipy.linalg import solve_toeplitz
    r = np.correlate(frame, frame, "full")[frame.size - 1: frame.size + order]
    if r[0] <= 1e-12:
        return np.r_[1.0, np.zeros(order)], 0.0
    r = r * np.exp(-0.5 * (2 * np.pi * 60.0 / sr * np.arange(order + 1)) ** 2)  # 60 Hz lag window
    r[0] *= 1.0 + 1e-6  # white-noise correction keeps the Toeplitz system well conditioned
    coefs = solve_toeplitz(r[:order], -r[1:order + 1])
    a = np.r_[1.0, coefs]
    return a, float(max(r[0] + np.dot(coefs, r[1:order + 1]), 0.0))


def lpc_wave(x: np.ndarray, sr: int, order: int = 16, seed: int = 0) -> tuple[np.ndarray, int]:
    """LPC-vocoded copy of a waveform (float64), at its own rate."""
    from scipy.signal import lfilter
    rng = np.random.default_rng(seed)
    emph = lfilter([1.0, -0.97], [1.0], x) + rng.normal(0, 1e-5, x.size)
    hop, win = sr // 100, 3 * sr // 100
    pw = _pyworld()
    f0, t = pw.dio(x, sr, frame_period=10.0)
    f0 = pw.stonemask(x, f0, t, sr)
    window = np.hanning(win)
    padded = np.pad(emph, (win // 2, win))
    out = np.zeros(len(f0) * hop)
    zi = np.zeros(order)
    phase = 0.0
    for k, f in enumerate(f0):
        seg = padded[k * hop: k * hop + win] * window
        a, err = lpc(seg, order, sr)
        gain = np.sqrt(err / np.sum(window ** 2))
        if f > 0:
            period = sr / f
            exc = np.zeros(hop)
            while phase < hop:
                exc[int(phase)] = np.sqrt(period)
                phase += period
            phase -= hop
            exc -= 1.0 / np.sqrt(period)  # zero-mean pulses: no DC for the de-emphasis to boost
        else:
            exc = rng.normal(0.0, 1.0, hop)
            phase = 0.0
        out[k * hop:(k + 1) * hop], zi = lfilter([gain], a, exc, zi=zi)
    return lfilter([1.0], [1.0, -0.97], out)[: x.size], sr


def codec2_wave(x: np.ndarray, sr: int, mode: str, tmp: Path) -> tuple[np.ndarray, int]:
    """Codec 2 round trip of a waveform (c2enc/c2dec in ``tmp``), returned at 8 kHz."""
    x = resample(x, sr, BAND_RATE)
    raw_in, bits, raw_out = tmp / "in.raw", tmp / "c2.bit", tmp / "out.raw"
    np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tofile(raw_in)
    mode = str(mode)
    run_tool(["c2enc", mode, str(raw_in), str(bits)])
    run_tool(["c2dec", mode, str(bits), str(raw_out)])
    return np.fromfile(raw_out, dtype="<i2").astype(np.float64) / 32768.0, BAND_RATE


def synthetic_clip(seconds: float = 4.0, seed: int = 0, sr: int = OUT_RATE) -> np.ndarray:
    """A seeded speech-like signal (gliding harmonic tone with noise); content does not matter
    for cost, only length."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(0.3 / k * np.sin(k * phase) for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
