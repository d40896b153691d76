"""Channel conditions: seeded transforms of *eval* audio for the robustness matrix.

A condition is a callable ``condition(wave, rng) -> wave`` on 16 kHz mono float32
audio that keeps the length and the sample rate (codec delay is removed, the band is
resampled back). The ``rng`` comes from (config seed, utt_id, condition name) through
:func:`scaa.dsp.views.clip_rng`, so one config always gives the same degraded audio.
Conditions register in :data:`scaa.registry.CONDITIONS` (third parties: entry-point
group ``scaa.conditions``) and are named in ``evaluation.conditions``; the workflow
applies one as the feature extractor's view ``cond-<name>`` on the eval split only
(:class:`ConditionView`), so train and dev never see it unless a view asks for it.

A condition that needs other clips (babble noise mixes *train* bona fide speech) gets
the manifest through ``prepare(manifest)`` before the first clip.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from scaa.dsp.audio import SAMPLE_RATE
from scaa.dsp.codecs import CODECS, align, decode, encode, fit_length  # noqa: F401 (CODECS, encode, decode re-exported)
from scaa.registry import CONDITIONS, VIEWS
from scaa.dsp.views import coloured_noise, mulaw_roundtrip
from scaa.dsp.views import finish_transform

CLEAN = "clean"
VIEW_PREFIX = "cond-"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _finish(wave: np.ndarray, out: np.ndarray, name: str) -> np.ndarray:
    return finish_transform(wave, out, name, kind="condition")


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def mix_at_snr(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """wave + noise scaled so that 10 log10(P(wave) / P(scaled noise)) = snr_db exactly."""
    p_sig, p_noise = _power(wave), _power(noise)
    if p_sig == 0 or p_noise == 0:
        return wave.astype(np.float64)
    return wave + noise * np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))


# ---------------------------------------------------------------- identity
@CONDITIONS.register(CLEAN)
class Clean:
    """The clip as recorded (always part of the robustness matrix)."""

    def __call__(self, wave, rng):
        return wave


# ---------------------------------------------------------------- codecs (PyAV, in process: scaa.dsp.codecs)
@CONDITIONS.register("codec")
class Codec:
    """Lossy codec round trip through FFmpeg (PyAV): ``codec`` mp3 | opus | aac at ``bitrate_kbps``."""

    def __init__(self, codec: str = "mp3", bitrate_kbps: float = 64):
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, not {codec!r}")
        if not 6 <= float(bitrate_kbps) <= 320:
            raise ValueError(f"bitrate_kbps must be within [6, 320], got {bitrate_kbps!r}")
        self.codec, self.kbps = codec, float(bitrate_kbps)

    def __call__(self, wave, rng):
        peak = float(np.max(np.abs(wave))) if wave.size else 0.0
        x = wave / peak if peak > 1 else wave  # encoders clip above full scale
        y = align(decode(encode(x, self.codec, self.kbps)), x)
        return _finish(wave, y * peak if peak > 1 else y, f"codec {self.codec}")


# ---------------------------------------------------------------- telephone channel
@CONDITIONS.register("telephone")
class Telephone:
    """Narrow-band phone line: 300-3400 Hz band, 8 kHz, G.711 mu-law, back to 16 kHz."""

    def __init__(self, low_hz: float = 300.0, high_hz: float = 3400.0, order: int = 8, mulaw: bool = True):
        if not 0 < low_hz < high_hz < 4000:
            raise ValueError("need 0 < low_hz < high_hz < 4000 (the 8 kHz channel's Nyquist)")
        self.low, self.high, self.order, self.mulaw = float(low_hz), float(high_hz), int(order), bool(mulaw)

    def __call__(self, wave, rng):
        from scipy.signal import butter, resample_poly, sosfilt

        x = resample_poly(wave.astype(np.float64), 1, 2)               # 16 kHz -> 8 kHz
        sos = butter(self.order, [self.low, self.high], btype="bandpass", fs=8000, output="sos")
        x = sosfilt(sos, x)
        if self.mulaw:
            x = mulaw_roundtrip(x, 8)                                   # G.711: 8-bit mu-law
        y = resample_poly(x, 2, 1)                                      # back to 16 kHz
        y = sosfilt(butter(self.order, self.high, btype="lowpass", fs=SAMPLE_RATE, output="sos"), y)
        return _finish(wave, fit_length(y, wave.size), "telephone")


# ---------------------------------------------------------------- additive noise
@CONDITIONS.register("noise")
class AdditiveNoise:
    """Additive noise at ``snr_db``: ``kind`` white | pink | babble (other *train* bona fide speakers)."""

    KINDS = {"white": 0.0, "pink": 1.0, "babble": None}

    def __init__(self, snr_db: float = 10.0, kind: str = "white", talkers: int = 4, pool_size: int = 32,
                 pool_seed: int = 0):
        if kind not in self.KINDS:
            raise ValueError(f"noise kind must be one of {sorted(self.KINDS)}, not {kind!r}")
        if not -20 <= float(snr_db) <= 80:
            raise ValueError(f"snr_db must be within [-20, 80], got {snr_db!r}")
        if int(talkers) < 1 or int(pool_size) < int(talkers):
            raise ValueError("need 1 <= talkers <= pool_size")
        self.snr, self.kind, self.talkers = float(snr_db), kind, int(talkers)
        self.pool_size, self.pool_seed = int(pool_size), int(pool_seed)
        self.pool: list[np.ndarray] = []   # train bona fide clips (eval speakers are never in train)

    def prepare(self, manifest) -> None:
        """Load the babble pool once per job: ``pool_size`` train bona fide clips, seeded."""
        if self.kind != "babble" or self.pool:
            return
        from scaa.dsp import audio

        rows = manifest[(manifest["split"] == "train") & (manifest["label"] == 0)]
        if not len(rows):
            raise ValueError("babble noise needs bona fide clips in the train split of the manifest")
        rows = rows.sample(n=min(self.pool_size, len(rows)), random_state=self.pool_seed)
        for _, r in rows.sort_values("utt_id").iterrows():
            try:
                self.pool.append(audio.load(r["path"]))
            except audio.AudioError:
                continue
        if not self.pool:
            raise ValueError("babble noise: no train bona fide clip of the pool could be read")

    def babble(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Sum of ``talkers`` pool clips (looped, random start), each normalised to unit power."""
        if not self.pool:
            raise RuntimeError("babble noise was not prepared with a manifest (call prepare())")
        picks = rng.choice(len(self.pool), size=min(self.talkers, len(self.pool)), replace=False)
        out = np.zeros(n)
        for i in picks:
            src = self.pool[int(i)].astype(np.float64)
            start = int(rng.integers(0, src.size))
            seg = np.resize(np.roll(src, -start), n)
            p = _power(seg)
            out += seg / np.sqrt(p) if p > 0 else seg
        return out

    def __call__(self, wave, rng):
        if self.kind == "babble":
            noise = self.babble(wave.size, rng)
        else:
            noise = coloured_noise(wave.size, rng, self.KINDS[self.kind])
        return _finish(wave, mix_at_snr(wave, noise, self.snr), f"noise {self.kind}")


# ---------------------------------------------------------------- reverberation
def synthetic_rir(rng: np.random.Generator, rt60_s: float, sr: int = SAMPLE_RATE, direct_delay_s: float = 0.002,
                  early_reflections: int = 8, drr_db: float = 3.0) -> np.ndarray:
    """A seeded room impulse response: a direct path, a few early reflections and an
    exponentially decaying noise tail whose energy falls by 60 dB in ``rt60_s``.

    Amplitude envelope exp(-6.91 t / RT60), i.e. energy falls 60 dB per RT60; the tail
    starts after the direct path and is scaled so direct / reverberant energy = ``drr_db``.
    """
    n = int(max(rt60_s, 0.05) * 1.2 * sr)
    t = np.arange(n) / sr
    d0 = int(direct_delay_s * sr)
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)
    tail[:d0 + 1] = 0.0
    for _ in range(early_reflections):  # sparse early echoes, 1-50 ms after the direct path
        k = d0 + int(rng.uniform(0.001, 0.05) * sr)
        if k < n:
            tail[k] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.6) * np.exp(-6.9078 * t[k] / rt60_s)
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(_power(tail) * n, 1e-20))
    h = tail
    h[d0] = 1.0
    return h


def schroeder_decay_db(h: np.ndarray) -> np.ndarray:
    """Backward-integrated energy decay curve (dB re total energy)."""
    e = np.cumsum(np.square(h[::-1], dtype=np.float64))[::-1]
    return 10 * np.log10(np.maximum(e / e[0], 1e-30))


@CONDITIONS.register("reverb")
class Reverb:
    """Reverberant room: convolution with a seeded synthetic RIR (``rt60_s`` or a [lo, hi] range)."""

    def __init__(self, rt60_s=0.5, drr_db: float = 3.0):
        vals = rt60_s if isinstance(rt60_s, (list, tuple)) else [rt60_s]
        if len(vals) not in (1, 2) or not all(0.05 <= float(v) <= 3.0 for v in vals):
            raise ValueError(f"rt60_s must be a number or [lo, hi] within [0.05, 3] s, got {rt60_s!r}")
        self.rt60, self.drr = rt60_s, float(drr_db)

    def __call__(self, wave, rng):
        from scipy.signal import fftconvolve

        rt = float(rng.uniform(*self.rt60)) if isinstance(self.rt60, (list, tuple)) else float(self.rt60)
        y = fftconvolve(wave.astype(np.float64), synthetic_rir(rng, rt, drr_db=self.drr))[:wave.size]
        p_in, p_out = _power(wave), _power(y)
        if p_out > 0:  # same loudness as the dry clip: the condition is the room, not the level
            y *= np.sqrt(p_in / p_out)
        return _finish(wave, y, "reverb")


# ---------------------------------------------------------------- level
@CONDITIONS.register("gain")
class Gain:
    """Loudness change by ``gain_db`` (e.g. -20 or +6), clipped to full scale [-1, 1]."""

    def __init__(self, gain_db: float = -20.0, clip: bool = True):
        if not -60 <= float(gain_db) <= 40:
            raise ValueError(f"gain_db must be within [-60, 40], got {gain_db!r}")
        self.gain, self.clip = float(gain_db), bool(clip)

    def __call__(self, wave, rng):
        y = wave.astype(np.float64) * 10 ** (self.gain / 20)
        return _finish(wave, np.clip(y, -1.0, 1.0) if self.clip else y, "gain")


# ---------------------------------------------------------------- packet loss
@CONDITIONS.register("packet_loss")
class PacketLoss:
    """VoIP packet loss: ``frame_ms`` packets lost at ``loss_rate`` (bursty: Gilbert-Elliott), zero-filled."""

    def __init__(self, loss_rate: float = 0.1, frame_ms: float = 20.0, burst: float = 2.0):
        if not 0 <= float(loss_rate) < 1:
            raise ValueError("loss_rate must be within [0, 1)")
        if not 2 <= float(frame_ms) <= 200 or float(burst) < 1:
            raise ValueError("frame_ms must be within [2, 200] and burst (mean lost run) >= 1")
        self.rate, self.frame, self.burst = float(loss_rate), int(round(frame_ms * SAMPLE_RATE / 1000)), float(burst)

    def lost_frames(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Two-state chain: leave the lost state with p = 1/burst, enter it so that the
        stationary loss share is ``loss_rate``."""
        if self.rate == 0:
            return np.zeros(n_frames, bool)
        p_exit = 1 / self.burst
        p_enter = self.rate * p_exit / (1 - self.rate)
        u = rng.random(n_frames)
        lost = np.zeros(n_frames, bool)
        state = rng.random() < self.rate
        for i in range(n_frames):
            lost[i] = state
            state = (u[i] >= p_exit) if state else (u[i] < p_enter)
        return lost

    def __call__(self, wave, rng):
        n_frames = -(-wave.size // self.frame)
        mask = np.repeat(~self.lost_frames(n_frames, rng), self.frame)[:wave.size]
        return _finish(wave, wave * mask, "packet_loss")


# ---------------------------------------------------------------- workflow glue
def check_names(conditions: dict | None) -> dict[str, dict]:
    """``evaluation.conditions`` validated: names usable in paths, 'clean' reserved, each buildable."""
    conditions = dict(conditions or {})
    for name, spec in conditions.items():
        if name == CLEAN or not NAME_RE.match(str(name)):
            raise ValueError(f"condition name {name!r}: use letters, digits, '_', '.', '-' and not {CLEAN!r} "
                             "(clean is always included)")
        CONDITIONS.build(spec)
    return conditions


def view_name(condition: str) -> str:
    return VIEW_PREFIX + condition


def is_condition_view(view: str) -> bool:
    return str(view).startswith(VIEW_PREFIX)


def condition_of_view(view: str) -> str:
    return str(view)[len(VIEW_PREFIX):]


@VIEWS.register("condition")
class ConditionView:
    """A channel condition used as a view (the workflow's eval-side features; a training
    view set may use one too). Failures become a recorded skip of that clip."""

    def __init__(self, condition: Any = None):
        if condition is None:
            raise ValueError("a condition view needs `condition: {type: ...}`")
        self.condition = CONDITIONS.build(condition)

    def prepare(self, manifest) -> None:
        if hasattr(self.condition, "prepare"):
            self.condition.prepare(manifest)

    def __call__(self, wave, rng):
        from scaa.dsp.audio import AudioError

        try:
            return _finish(wave, self.condition(wave, rng), "condition")
        except Exception as err:
            raise AudioError("<condition>", "condition_error", f"{type(err).__name__}: {err}") from err
