"""Views (augmentations) applied to the waveform before encoding, seeded per clip.

A view is a callable ``view(wave, rng) -> wave`` on 16 kHz float32 audio. The ``rng``
is a numpy Generator seeded from (config seed, utt_id, view name), so the same config
gives the same augmented audio. Every view returns finite float32 of the input length.
A parameter given as ``[lo, hi]`` is drawn uniformly from that range per clip.
"""
from __future__ import annotations

import hashlib
import io
from typing import Any, Sequence

import numpy as np

from scaa.dsp.audio import SAMPLE_RATE
from scaa.registry import VIEWS

NYQUIST = SAMPLE_RATE / 2


def clip_rng(seed: int, utt_id: str, view: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{utt_id}|{view}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _pick(value, rng: np.random.Generator) -> float:
    """A fixed number, or a uniform draw from ``[lo, hi]``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] > value[1]:
            raise ValueError(f"a range must be [lo, hi] with lo <= hi, not {value!r}")
        return float(rng.uniform(value[0], value[1]))
    return float(value)


def _check_range(name: str, value, lo: float, hi: float) -> None:
    vals = value if isinstance(value, (list, tuple)) else [value]
    for v in vals:
        if not lo <= float(v) <= hi:
            raise ValueError(f"{name} must be within [{lo}, {hi}], got {value!r}")


def finish_transform(wave: np.ndarray, out: np.ndarray, name: str, kind: str = "view") -> np.ndarray:
    """A transform's output as float32, refused if it changed the length or is not finite."""
    out = np.asarray(out, dtype=np.float32)
    if out.shape != wave.shape:
        raise RuntimeError(f"{kind} {name} changed the length {wave.shape} -> {out.shape}")
    if not np.isfinite(out).all():
        raise FloatingPointError(f"{kind} {name} produced non-finite samples")
    return out


@VIEWS.register("none")
class Identity:
    """The clip as it is."""

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return wave


@VIEWS.register("bandmask")
class BandMask:
    """Zero one random frequency band (brick-wall, in the clip's FFT): hides band-specific artefacts."""

    def __init__(self, min_width_hz: float = 200.0, max_width_hz: float = 1500.0,
                 min_freq_hz: float = 0.0, max_freq_hz: float = NYQUIST):
        _check_range("band widths", [min_width_hz, max_width_hz], 1.0, NYQUIST)
        _check_range("band limits", [min_freq_hz, max_freq_hz], 0.0, NYQUIST)
        if min_width_hz > max_width_hz or min_freq_hz >= max_freq_hz:
            raise ValueError("need min_width_hz <= max_width_hz and min_freq_hz < max_freq_hz")
        self.widths, self.limits = (min_width_hz, max_width_hz), (min_freq_hz, max_freq_hz)
        self.last_band: tuple[float, float] | None = None

    def __call__(self, wave, rng):
        width = min(rng.uniform(*self.widths), self.limits[1] - self.limits[0])
        start = rng.uniform(self.limits[0], self.limits[1] - width)
        self.last_band = (start, start + width)
        spec = np.fft.rfft(wave.astype(np.float64))
        freqs = np.fft.rfftfreq(wave.size, 1 / SAMPLE_RATE)
        spec[(freqs >= start) & (freqs <= start + width)] = 0
        return finish_transform(wave, np.fft.irfft(spec, n=wave.size), "bandmask")


class _Butter:
    btype = "lowpass"

    def __init__(self, cutoff_hz=4000.0, order: int = 8):
        _check_range("cutoff_hz", cutoff_hz, 20.0, NYQUIST - 20.0)
        if not 1 <= int(order) <= 20:
            raise ValueError("order must be in 1..20")
        self.cutoff, self.order = cutoff_hz, int(order)

    def __call__(self, wave, rng):
        from scipy.signal import butter, sosfiltfilt

        cutoff = _pick(self.cutoff, rng)
        sos = butter(self.order, cutoff, btype=self.btype, fs=SAMPLE_RATE, output="sos")
        padlen = min(3 * (2 * len(sos) + 1), wave.size - 1)
        return finish_transform(wave, sosfiltfilt(sos, wave.astype(np.float64), padlen=max(padlen, 0)), self.btype)


@VIEWS.register("lowpass")
class LowPass(_Butter):
    """Zero-phase Butterworth low-pass (cutoff Hz, or a [lo, hi] range drawn per clip)."""

    btype = "lowpass"


@VIEWS.register("highpass")
class HighPass(_Butter):
    """Zero-phase Butterworth high-pass (cutoff Hz, or a [lo, hi] range drawn per clip)."""

    btype = "highpass"

    def __init__(self, cutoff_hz=300.0, order: int = 8):
        super().__init__(cutoff_hz, order)


def mulaw_roundtrip(wave: np.ndarray, bits: int = 8) -> np.ndarray:
    """G.711-style mu-law companding and ``bits``-bit quantisation, then expansion."""
    mu = 2 ** bits - 1
    x = np.clip(wave.astype(np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    q = np.round((y + 1) / 2 * mu) / mu * 2 - 1
    return np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu


def mp3_roundtrip(wave: np.ndarray, compression_level: float) -> np.ndarray:
    """Encode to MP3 in memory (libsndfile/LAME) and decode, aligned to the input."""
    import soundfile as sf

    from scaa.dsp.codecs import codec_delay, fit_length

    if "MP3" not in sf.available_formats():
        raise RuntimeError("this libsndfile has no MP3 support (needs libsndfile >= 1.1)")
    buf = io.BytesIO()
    sf.write(buf, np.clip(wave, -1, 1), SAMPLE_RATE, format="MP3",
             compression_level=float(compression_level), bitrate_mode="CONSTANT")
    buf.seek(0)
    decoded, _ = sf.read(buf, dtype="float32")
    if decoded.ndim > 1:
        decoded = decoded.mean(axis=1)
    # some bitrates leave encoder delay in the stream: find it by cross-correlation
    lag = codec_delay(decoded, wave, min(4096, max(decoded.size - 1, 0)), dtype=np.float64)
    return fit_length(decoded[lag:], wave.size)


@VIEWS.register("codec")
class Codec:
    """Lossy codec round trip: ``kind: mulaw`` (8-bit) or ``kind: mp3`` (compression_level 0..0.99)."""

    def __init__(self, kind: str = "mulaw", bits: int = 8, compression_level=0.7):
        if kind not in ("mulaw", "mp3"):
            raise ValueError(f"codec kind must be mulaw or mp3, not {kind!r}")
        _check_range("compression_level", compression_level, 0.0, 0.99)
        if not 2 <= int(bits) <= 16:
            raise ValueError("bits must be in 2..16")
        self.kind, self.bits, self.level = kind, int(bits), compression_level

    def __call__(self, wave, rng):
        if self.kind == "mulaw":
            return finish_transform(wave, mulaw_roundtrip(wave, self.bits), "codec")
        return finish_transform(wave, mp3_roundtrip(wave, _pick(self.level, rng)), "codec")


def coloured_noise(n: int, rng: np.random.Generator, exponent: float = 0.0) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    white = rng.standard_normal(n)
    if exponent == 0:
        return white
    spec = np.fft.rfft(white)
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    return np.fft.irfft(spec / f ** (exponent / 2), n=n)


@VIEWS.register("noise")
class Noise:
    """Additive white / pink / brown noise at a set SNR in dB (or an SNR range)."""

    COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}

    def __init__(self, snr_db=20.0, colour: str = "white"):
        if colour not in self.COLOURS:
            raise ValueError(f"colour must be one of {sorted(self.COLOURS)}")
        _check_range("snr_db", snr_db, -30.0, 100.0)
        self.snr, self.colour = snr_db, colour

    def __call__(self, wave, rng):
        snr = _pick(self.snr, rng)
        noise = coloured_noise(wave.size, rng, self.COLOURS[self.colour])
        p_sig = float(np.mean(np.square(wave, dtype=np.float64)))
        p_noise = float(np.mean(noise ** 2))
        if p_sig == 0 or p_noise == 0:
            return finish_transform(wave, wave, "noise")
        noise *= np.sqrt(p_sig / (p_noise * 10 ** (snr / 10)))
        return finish_transform(wave, wave + noise, "noise")


# ---- RawBoost (Tak et al., ICASSP 2022), written from the paper's description ----------
def _random_notch_fir(rng, n_bands, min_bw, max_bw, min_coeff, max_coeff) -> np.ndarray:
    """Linear-phase FIR with ``n_bands`` random stop bands (random centre, width, length)."""
    from scipy.signal import firwin2

    numtaps = int(rng.integers(min_coeff, max_coeff + 1)) | 1  # odd: type I, any response allowed
    freqs, gains = [0.0], [1.0]
    centres = np.sort(rng.uniform(20, NYQUIST - 20, size=n_bands))
    for c in centres:
        half = rng.uniform(min_bw, max_bw) / 2
        lo, hi = max(c - half, freqs[-1] + 1), min(c + half, NYQUIST - 2)
        if hi <= lo + 1:
            continue
        freqs += [lo, lo + 0.5, hi - 0.5, hi]
        gains += [1.0, 0.0, 0.0, 1.0]
    freqs += [NYQUIST]
    gains += [1.0]
    return firwin2(numtaps, freqs, gains, fs=SAMPLE_RATE)


def _normalise_peak(y: np.ndarray, reference: np.ndarray) -> np.ndarray:
    peak, ref = np.max(np.abs(y)), np.max(np.abs(reference))
    return y * (ref / peak) if peak > 0 else y


def lnl_convolutive(x, rng, n_orders=5, n_bands=5, min_bw=100, max_bw=1000,
                    min_coeff=10, max_coeff=100, min_gain=0.0, max_gain=0.0):
    """Linear and non-linear convolutive noise: sum_j g_j (h_j * x)^j with random notch filters h_j."""
    y = np.zeros_like(x)
    for j in range(1, n_orders + 1):
        h = _random_notch_fir(rng, n_bands, min_bw, max_bw, min_coeff, max_coeff)
        h *= 10 ** (rng.uniform(min_gain, max_gain) / 20)
        filtered = np.convolve(x, h, mode="same")
        y += filtered ** j / j  # higher harmonics contribute less, as the polynomial decays
    return _normalise_peak(y, x)


def isd_impulsive(x, rng, max_percent=10.0, g_sd=2.0):
    """Impulsive signal-dependent noise: a random P% of samples get x_i * g_sd * U(-1, 1) added."""
    y = x.copy()
    n = int(x.size * rng.uniform(0, max_percent) / 100)
    idx = rng.choice(x.size, size=n, replace=False)
    y[idx] += x[idx] * g_sd * rng.uniform(-1, 1, size=n)
    return y


def ssi_additive(x, rng, min_snr=10.0, max_snr=40.0, **fir):
    """Stationary signal-independent noise: white noise coloured by a random notch FIR, at a random SNR."""
    noise = np.convolve(rng.standard_normal(x.size), _random_notch_fir(rng, **fir), mode="same")
    p_sig, p_noise = float(np.mean(x ** 2)), float(np.mean(noise ** 2))
    if p_sig == 0 or p_noise == 0:
        return x
    return x + noise * np.sqrt(p_sig / (p_noise * 10 ** (rng.uniform(min_snr, max_snr) / 10)))


@VIEWS.register("rawboost")
class RawBoost:
    """RawBoost-style: convolutive (non-)linear filtering (lnl), impulsive (isd), stationary (ssi) noise."""

    ALGOS = ("lnl", "isd", "ssi")

    def __init__(self, algos: Sequence[str] = ("lnl", "isd"), n_orders: int = 5, n_bands: int = 5,
                 min_bw: float = 100.0, max_bw: float = 1000.0, min_coeff: int = 10, max_coeff: int = 100,
                 isd_max_percent: float = 10.0, g_sd: float = 2.0, min_snr: float = 10.0, max_snr: float = 40.0):
        bad = set(algos) - set(self.ALGOS)
        if bad or not algos:
            raise ValueError(f"rawboost algos must be a non-empty subset of {self.ALGOS}, got {list(algos)}")
        if not (1 <= n_orders <= 10 and 1 <= n_bands <= 20 and 0 < min_bw <= max_bw < NYQUIST
                and 3 <= min_coeff <= max_coeff and 0 <= isd_max_percent <= 100 and min_snr <= max_snr):
            raise ValueError("rawboost parameters out of range")
        self.algos = list(algos)
        self.fir = dict(n_bands=n_bands, min_bw=min_bw, max_bw=max_bw, min_coeff=min_coeff, max_coeff=max_coeff)
        self.n_orders, self.isd = n_orders, dict(max_percent=isd_max_percent, g_sd=g_sd)
        self.snr = (min_snr, max_snr)

    def __call__(self, wave, rng):
        x = wave.astype(np.float64)
        for algo in self.algos:
            if algo == "lnl":
                x = lnl_convolutive(x, rng, n_orders=self.n_orders, **self.fir)
            elif algo == "isd":
                x = isd_impulsive(x, rng, **self.isd)
            else:
                x = ssi_additive(x, rng, self.snr[0], self.snr[1], **self.fir)
        return finish_transform(wave, x, "rawboost")


@VIEWS.register("chain")
class Chain:
    """Several views applied in order (a list of view specs), sharing the clip's rng."""

    def __init__(self, views: Sequence[Any] = ()):
        if not views:
            raise ValueError("chain needs at least one view")
        self.views = [VIEWS.build(v) for v in views]

    def __call__(self, wave, rng):
        out = wave
        for view in self.views:
            out = view(out, rng)
        return finish_transform(wave, out, "chain")
