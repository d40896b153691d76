"""Vocoders and codecs that turn a bona fide clip into a generated spoof (copy-synthesis), registered as resynthesizers.

A resynthesizer is a registered callable ``gen(wave, rng) -> wave`` on 16 kHz float32
audio (``@RESYNTH.register("name")``, built from ``{type: name, ...}`` like any component).
Each has a ``family`` (default: its registered type) used to flag a study whose
generated spoofs share a family with an eval split's attacks, and ``keywords`` that find
that family in a corpus's attack descriptions (``attacks.tsv``). Its output is brought
back to the source's length and RMS, so neither duration nor level marks a generated row.
The workflow stage that runs them over a manifest is :mod:`scaa.workflow.resynth`.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from scaa.dsp.audio import SAMPLE_RATE
from scaa.registry import RESYNTH


class ResynthError(RuntimeError):
    """A generator could not process a clip (recorded as a skip, never fatal for the shard)."""


def _fit(out: np.ndarray, sr: int, src: np.ndarray) -> np.ndarray:
    """Back to 16 kHz, the source's length (trim/zero-pad) and RMS, float32, finite."""
    from scaa.dsp.synthesis import resample

    y = resample(np.asarray(out, dtype=np.float64), sr, SAMPLE_RATE)[: src.size]
    y = np.pad(y, (0, src.size - y.size))
    if not np.isfinite(y).all():
        raise ResynthError("non-finite output")
    rms_src, rms_out = float(np.sqrt(np.mean(src.astype(np.float64) ** 2))), float(np.sqrt(np.mean(y ** 2)))
    if rms_out > 0:
        y *= rms_src / rms_out
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.999:
        y *= 0.999 / peak
    return y.astype(np.float32)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


class Resynthesizer:
    """Base: ``family`` and ``keywords`` describe what it makes; subclasses define ``make``."""

    family: str = ""
    keywords: tuple[str, ...] = ()

    def make(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        src = np.asarray(wave, dtype=np.float32)
        out, sr = self.make(src.astype(np.float64), rng)
        return _fit(out, sr, src)


@RESYNTH.register("world")
class World(Resynthesizer):
    """WORLD analysis (DIO + StoneMask, CheapTrick, D4C) and resynthesis."""

    family, keywords = "world", ("world",)

    def __init__(self, f0_scale: float = 1.0):
        self.f0_scale = float(f0_scale)

    def make(self, x, rng):
        from scaa.dsp.synthesis import world_wave

        return world_wave(x, SAMPLE_RATE, self.f0_scale)


@RESYNTH.register("lpc")
class LPC(Resynthesizer):
    """LPC vocoder: all-pole envelope per 10 ms frame, pulse-train or noise excitation."""

    family, keywords = "lpc", ("lpc",)

    def __init__(self, order: int = 16):
        if not 4 <= int(order) <= 40:
            raise ValueError("lpc order must be in 4..40")
        self.order = int(order)

    def make(self, x, rng):
        from scaa.dsp.synthesis import lpc_wave

        return lpc_wave(x, SAMPLE_RATE, self.order, _seed(rng))


@RESYNTH.register("griffin_lim")
class GriffinLim(Resynthesizer):
    """Mel power spectrogram inverted by fast Griffin-Lim from seeded random phase."""

    family, keywords = "griffin_lim", ("griffin-lim", "griffin lim", "griffinlim")

    def __init__(self, n_mels: int = 64, n_iter: int = 32):
        if int(n_mels) < 8 or int(n_iter) < 1:
            raise ValueError("griffin_lim needs n_mels >= 8 and n_iter >= 1")
        self.n_mels, self.n_iter = int(n_mels), int(n_iter)

    def make(self, x, rng):
        from scaa.dsp.synthesis import griffin_lim_wave

        return griffin_lim_wave(x, SAMPLE_RATE, self.n_mels, self.n_iter, _seed(rng))


@RESYNTH.register("codec2")
class Codec2(Resynthesizer):
    """Codec 2 encode/decode (c2enc/c2dec, 8 kHz) at one bit-rate mode."""

    family, keywords = "codec2", ("codec 2", "codec2")
    MODES = ("3200", "2400", "1600", "1400", "1300", "1200", "700C", "450")

    def __init__(self, mode: str | int = "1300"):
        import shutil

        if str(mode) not in self.MODES:
            raise ValueError(f"codec2 mode must be one of {self.MODES}, not {mode!r}")
        if not (shutil.which("c2enc") and shutil.which("c2dec")):
            raise ResynthError("codec2 needs the c2enc/c2dec programs (Debian package codec2)")
        self.mode = str(mode)

    def make(self, x, rng):
        from scaa.dsp.synthesis import codec2_wave

        with tempfile.TemporaryDirectory(prefix="scaa_c2_") as tmp:
            return codec2_wave(x, SAMPLE_RATE, self.mode, Path(tmp))


def av_roundtrip(x: np.ndarray, sr: int, codec: str, container: str, bit_rate: int) -> np.ndarray:
    """Encode mono audio with PyAV (in memory) and decode it again; float64 at ``sr``, the
    encoder delay dropped (not cut to length: :func:`_fit` does that)."""
    from scaa.dsp.codecs import codec_delay, decode, encode_pcm16

    y = decode(encode_pcm16(x, sr, codec, container, bit_rate), sr).astype(np.float64)
    return y[codec_delay(y, x):]


@RESYNTH.register("mp3")
class MP3(Resynthesizer):
    """MP3 round trip at a low constant bit rate (PyAV / libmp3lame, in memory)."""

    family, keywords = "mp3", ("mp3",)

    def __init__(self, bit_rate: int = 16000):
        if not 8000 <= int(bit_rate) <= 160000:
            raise ValueError("mp3 bit_rate must be 8000..160000 bit/s at 16 kHz")
        self.bit_rate = int(bit_rate)

    def make(self, x, rng):
        return av_roundtrip(x, SAMPLE_RATE, "libmp3lame", "mp3", self.bit_rate), SAMPLE_RATE


@RESYNTH.register("opus")
class Opus(Resynthesizer):
    """Opus round trip at a low bit rate (PyAV / libopus in Ogg, in memory)."""

    family, keywords = "opus", ("opus",)

    def __init__(self, bit_rate: int = 8000):
        if not 6000 <= int(bit_rate) <= 128000:
            raise ValueError("opus bit_rate must be 6000..128000 bit/s")
        self.bit_rate = int(bit_rate)

    def make(self, x, rng):
        return av_roundtrip(x, SAMPLE_RATE, "libopus", "ogg", self.bit_rate), SAMPLE_RATE
