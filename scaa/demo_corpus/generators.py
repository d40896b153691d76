"""Spoof generators and the one post-processing chain every clip (both classes) goes through.

Each generator returns ``(wave, sample_rate)``; :func:`finish` then band-limits every clip
through 8 kHz (the Asterisk recordings are 8 kHz, so "no energy above 4 kHz" must not mean
bona fide), resamples to 16 kHz, trims silence, caps the length, RMS-normalises and adds
the same low dither (so runs of exact digital zeros do not mark TTS).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from scaa.dsp.audio import SAMPLE_RATE as OUT_RATE
from scaa.dsp.synthesis import (BAND_RATE, GeneratorError, codec2_wave, griffin_lim_wave,  # noqa: F401 (re-exported)
                                lpc, lpc_wave, resample, run_tool, world_wave)



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


def _read(path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    wave, sr = sf.read(str(path), dtype="float64", always_2d=True)
    wave = wave.mean(axis=1)
    if max_seconds is not None:  # generators need no more than the finished clip keeps
        wave = wave[: int(max_seconds * sr)]
    return wave, sr


SOURCE_SECONDS = 7.0  # a little over Finish.max_seconds, so trimming has room


# --- bona fide -------------------------------------------------------------------------

def bonafide(job: Job, tmp: Path):
    return _read(job.source, SOURCE_SECONDS)


# --- TTS ------------------------------------------------------------------------------

def espeak(job: Job, tmp: Path):
    """espeak-ng formant synthesis (22.05 kHz)."""
    out = tmp / "espeak.wav"
    p = job.params
    run_tool(["espeak-ng", "-v", p["voice"], "-s", str(p["speed"]), "-p", str(p["pitch"]),
          "-w", str(out), job.source])
    return _read(out)


def flite(job: Job, tmp: Path):
    """flite (CMU) diphone / clustergen synthesis."""
    out = tmp / "flite.wav"
    p = job.params
    run_tool(["flite", "-voice", p["voice"], "--setf", f"duration_stretch={p['stretch']:.3f}",
          "-t", job.source, "-o", str(out)])
    return _read(out)


# --- resynthesis of bona fide speech ---------------------------------------------------

def world(job: Job, tmp: Path):
    """WORLD analysis (DIO + StoneMask, CheapTrick, D4C) and resynthesis."""
    x, sr = _read(job.source, SOURCE_SECONDS)
    return world_wave(x, sr, job.params.get("f0_scale", 1.0))


def griffin_lim(job: Job, tmp: Path):
    """Mel power spectrogram -> magnitude by the mel pseudo-inverse -> fast Griffin-Lim.

    Own STFT/ISTFT (Hann, 75 % overlap) and the momentum update of Perraudin et al. (2013),
    started from seeded random phase.
    """
    x, sr = _read(job.source, SOURCE_SECONDS)
    return griffin_lim_wave(x, sr, job.params.get("n_mels", 64), job.params.get("n_iter", 32), job.seed)


def lpc_vocoder(job: Job, tmp: Path):
    """LPC vocoder: all-pole envelope per 10 ms frame, pulse (voiced) or noise excitation."""
    x, sr = _read(job.source, SOURCE_SECONDS)
    return lpc_wave(x, sr, job.params.get("order", 16), job.seed)


def codec2(job: Job, tmp: Path):
    """Codec 2 encode/decode (8 kHz s16 raw) at the job's bit-rate mode."""
    x, sr = _read(job.source, SOURCE_SECONDS)
    return codec2_wave(x, sr, job.params.get("mode", "1300"), tmp)


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
