"""Spoof generators and the one post-processing chain every clip (both classes) goes through.

Each generator returns ``(wave, sample_rate)``; :func:`finish` then band-limits every clip
through 8 kHz (the Asterisk recordings are 8 kHz, so "no energy above 4 kHz" must not mean
bona fide), resamples to 16 kHz, trims silence, caps the length, RMS-normalises and adds
the same low dither (so runs of exact digital zeros do not mark TTS).
"""
from __future__ import annotations

import functools
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from scaa.audio import SAMPLE_RATE as OUT_RATE

BAND_RATE = 8_000


@dataclass
class Job:
    """One clip to make: what, from which source, with which settings and seed."""
    name: str
    split: str
    speaker: str
    attack: str            # "-" for bona fide, else "A01".."A06"
    source: str            # wav path (bona fide / resynthesis) or sentence (TTS)
    seed: int
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Finish:
    """Settings of the shared post-processing chain."""
    max_seconds: float = 6.0
    min_seconds: float = 0.8
    trim_db: float = 35.0
    rms_dbfs: float = -26.0
    peak: float = 0.97
    highpass_hz: float = 80.0
    dither_dbfs: float = -84.0


class GeneratorError(RuntimeError):
    """A generator command failed; the message names the command and its stderr."""


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GeneratorError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[:300]}")


def _read(path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    wave, sr = sf.read(str(path), dtype="float64", always_2d=True)
    wave = wave.mean(axis=1)
    if max_seconds is not None:  # generators need no more than the finished clip keeps
        wave = wave[: int(max_seconds * sr)]
    return wave, sr


SOURCE_SECONDS = 7.0  # a little over Finish.max_seconds, so trimming has room


def resample(wave: np.ndarray, sr: int, target: int) -> np.ndarray:
    """``wave`` from ``sr`` to ``target`` Hz (soxr, high quality); unchanged if they are equal."""
    if sr == target:
        return wave
    import soxr
    return soxr.resample(wave, sr, target, quality="HQ")


# --- bona fide -------------------------------------------------------------------------

def bonafide(job: Job, tmp: Path):
    return _read(job.source, SOURCE_SECONDS)


# --- TTS ------------------------------------------------------------------------------

def espeak(job: Job, tmp: Path):
    """espeak-ng formant synthesis (22.05 kHz)."""
    out = tmp / "espeak.wav"
    p = job.params
    _run(["espeak-ng", "-v", p["voice"], "-s", str(p["speed"]), "-p", str(p["pitch"]),
          "-w", str(out), job.source])
    return _read(out)


def flite(job: Job, tmp: Path):
    """flite (CMU) diphone / clustergen synthesis."""
    out = tmp / "flite.wav"
    p = job.params
    _run(["flite", "-voice", p["voice"], "--setf", f"duration_stretch={p['stretch']:.3f}",
          "-t", job.source, "-o", str(out)])
    return _read(out)


# --- resynthesis of bona fide speech ---------------------------------------------------

def _pyworld():
    import warnings
    with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import pyworld
    return pyworld


def world(job: Job, tmp: Path):
    """WORLD analysis (DIO + StoneMask, CheapTrick, D4C) and resynthesis."""
    x, sr = _read(job.source, SOURCE_SECONDS)
    return world_wave(x, sr, job.params.get("f0_scale", 1.0))


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


def griffin_lim(job: Job, tmp: Path):
    """Mel power spectrogram -> magnitude by the mel pseudo-inverse -> fast Griffin-Lim.

    Own STFT/ISTFT (Hann, 75 % overlap) and the momentum update of Perraudin et al. (2013),
    started from seeded random phase.
    """
    x, sr = _read(job.source, SOURCE_SECONDS)
    return griffin_lim_wave(x, sr, job.params.get("n_mels", 64), job.params.get("n_iter", 32), job.seed)


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


def lpc_vocoder(job: Job, tmp: Path):
    """LPC vocoder: all-pole envelope per 10 ms frame, pulse (voiced) or noise excitation."""
    x, sr = _read(job.source, SOURCE_SECONDS)
    return lpc_wave(x, sr, job.params.get("order", 16), job.seed)


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


def codec2(job: Job, tmp: Path):
    """Codec 2 encode/decode (8 kHz s16 raw) at the job's bit-rate mode."""
    x, sr = _read(job.source, SOURCE_SECONDS)
    return codec2_wave(x, sr, job.params.get("mode", "1300"), tmp)


def codec2_wave(x: np.ndarray, sr: int, mode: str, tmp: Path) -> tuple[np.ndarray, int]:
    """Codec 2 round trip of a waveform (c2enc/c2dec in ``tmp``), returned at 8 kHz."""
    x = resample(x, sr, BAND_RATE)
    raw_in, bits, raw_out = tmp / "in.raw", tmp / "c2.bit", tmp / "out.raw"
    np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tofile(raw_in)
    mode = str(mode)
    _run(["c2enc", mode, str(raw_in), str(bits)])
    _run(["c2dec", mode, str(bits), str(raw_out)])
    return np.fromfile(raw_out, dtype="<i2").astype(np.float64) / 32768.0, BAND_RATE


GENERATORS = {"bonafide": bonafide, "espeak": espeak, "flite": flite, "world": world,
              "griffin_lim": griffin_lim, "lpc": lpc_vocoder, "codec2": codec2}


# --- shared post-processing ------------------------------------------------------------

def _highpass(wave: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    """Zero-phase Butterworth high-pass: the recordings have nothing below ~100 Hz, so
    neither may the spoofs (LPC/TTS rumble would otherwise mark them)."""
    from scipy.signal import butter, sosfiltfilt
    if wave.size < 64:
        return wave
    return sosfiltfilt(butter(4, cutoff, btype="highpass", fs=sr, output="sos"), wave)


def trim(wave: np.ndarray, top_db: float, frame: int = 512, hop: int = 128) -> np.ndarray:
    """Cut leading/trailing frames whose RMS is more than ``top_db`` below the loudest frame."""
    if wave.size < frame:
        return wave
    frames = np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop]
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(db > db.max() - top_db)
    return wave[loud[0] * hop: loud[-1] * hop + frame]


def finish(wave: np.ndarray, sr: int, seed: int, cfg: Finish = Finish()) -> np.ndarray | str:
    """Identical chain for every clip -> int16 at 16 kHz, or a short reason to skip it."""
    wave = np.asarray(wave, dtype=np.float64)
    if wave.size == 0 or not np.all(np.isfinite(wave)):
        return "empty_or_non_finite"
    wave = _highpass(resample(wave, sr, BAND_RATE), BAND_RATE, cfg.highpass_hz)
    wave = resample(wave, BAND_RATE, OUT_RATE)
    wave = trim(wave, cfg.trim_db)
    wave = wave[: int(cfg.max_seconds * OUT_RATE)]
    if wave.size < cfg.min_seconds * OUT_RATE:
        return "too_short"
    rms = float(np.sqrt(np.mean(wave ** 2)))
    if rms < 1e-4:
        return "silent"
    wave = wave * (10 ** (cfg.rms_dbfs / 20) / rms)
    peak = float(np.max(np.abs(wave)))
    if peak > cfg.peak:
        wave = wave * (cfg.peak / peak)
    rng = np.random.default_rng(seed)
    wave = wave + rng.normal(0.0, 10 ** (cfg.dither_dbfs / 20), wave.size)
    return np.clip(np.round(wave * 32767), -32768, 32767).astype(np.int16)


def make_clip(job: Job, out_path: str, cfg: Finish = Finish()) -> tuple[str, int, str]:
    """Generate, finish and write one FLAC; returns (name, samples, skip reason or '')."""
    kind = job.params["kind"]
    with tempfile.TemporaryDirectory(prefix="scaa_demo_") as tmp:
        wave, sr = GENERATORS[kind](job, Path(tmp))
    pcm = finish(wave, sr, job.seed + 1, cfg)
    if isinstance(pcm, str):
        return job.name, 0, pcm
    sf.write(out_path, pcm, OUT_RATE, format="FLAC", subtype="PCM_16")
    return job.name, int(pcm.size), ""
