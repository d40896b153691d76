"""Audio loading in one place: any supported file -> mono float32 at 16 kHz.

Problems become an :class:`AudioError` whose ``reason`` is short and stable
(``missing``, ``unreadable``, ``empty``, ``too_short``, ``silent``, ``too_long``,
``non_finite``) so callers can record a skip instead of crashing deep inside a job.
A clip shorter than ``min_seconds`` (default :data:`MIN_SECONDS`) is refused here, in the
one loader, so the workflow, ``scaa detect`` and ``scaa overlay`` agree on it.
"""
from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
CONTAINER_SUFFIXES = {".mp4", ".m4a", ".mkv", ".webm", ".mov", ".aac"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".aiff", ".aif"} | CONTAINER_SUFFIXES
SILENCE_RMS = 1e-5  # about -100 dBFS: digital silence or dither only
MIN_SECONDS = 0.25  # shorter clips carry too few frames to say anything (the shortest scaa-dev clip: 0.30 s)


class AudioError(Exception):
    def __init__(self, path, reason: str, detail: str = ""):
        self.path, self.reason, self.detail = str(path), reason, detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int


def probe(path: str | Path) -> AudioInfo:
    """Read the header only (cheap) so the manifest can reject bad files early."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "missing")
    if path.suffix.lower() in CONTAINER_SUFFIXES:
        return _probe_container(path)
    try:
        info = sf.info(native_path(path))
    except Exception as err:  # libsndfile raises its own RuntimeError subclasses
        raise AudioError(path, "unreadable", str(err)) from err
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(path, "empty")
    return AudioInfo(info.frames / info.samplerate, info.samplerate, info.channels)


def native_path(path: str | Path) -> str | bytes:
    """``path`` as libsndfile takes it: the str, or its bytes when the name is not valid in
    the file system's encoding (a non-UTF-8 name reaches Python as a str holding surrogate
    escapes, which soundfile cannot encode: such a file would read as unreadable)."""
    text = str(path)
    try:
        text.encode(sys.getfilesystemencoding())
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


# RIFF-style containers whose audio chunk states its size: (form id, byte order, audio chunk id)
_CHUNKED = {b"RIFF": ("<", b"data"), b"RIFX": (">", b"data"), b"FORM": (">", b"SSND")}
_UNSET_SIZES = (0, 0xFFFFFFFF)  # written by a streaming encoder (pipe) or RF64: size not in the chunk


def truncated(path: str | Path) -> bool:
    """True when a WAV (RIFF/RIFX) or AIFF file's header promises more audio than the file
    holds (an interrupted copy or download). libsndfile decodes what is there without a
    word, so the caller flags it (``scaa detect`` adds ``"warning": "truncated"``). Reads
    the chunk headers only; False for other formats and for streamed headers with no size."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(12)
            form = _CHUNKED.get(head[:4])
            if form is None or len(head) < 12 or head[8:12] not in (b"WAVE", b"AIFF", b"AIFC"):
                return False
            order, audio_id = form
            offset = 12
            for _ in range(256):  # chunks before the audio: fmt, fact, LIST, COMM, ...
                fh.seek(offset)
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return False
                chunk_id, chunk_size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
                if chunk_id == audio_id:
                    return chunk_size not in _UNSET_SIZES and chunk_size > size - (offset + 8)
                offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
                if offset >= size:
                    return False
    except OSError:
        return False
    return False


def check_duration(seconds: float, name, min_seconds: float | None = MIN_SECONDS,
                   max_seconds: float | None = None) -> None:
    """Raise ``too_short`` / ``too_long`` for a duration outside the configured bounds."""
    if min_seconds is not None and seconds < min_seconds:
        raise AudioError(name, "too_short", f"{seconds:.3f} s < {min_seconds} s")
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(name, "too_long", f"{seconds:.1f} s > {max_seconds} s")


def load(path: str | Path, sample_rate: int = SAMPLE_RATE, trim_db: float | None = None,
         max_seconds: float | None = None, min_seconds: float | None = MIN_SECONDS) -> np.ndarray:
    """Decode, downmix to mono, resample, optionally trim silence; float32 in [-1, 1].
    A file whose header already says it is too long is refused before decoding."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "missing", "dangling symlink" if path.is_symlink() else "")
    if max_seconds is not None and path.suffix.lower() not in CONTAINER_SUFFIXES:
        try:
            info = sf.info(native_path(path))
        except Exception:
            info = None  # the decoder below names the problem
        if info is not None and info.samplerate > 0:
            check_duration(info.frames / info.samplerate, path, None, max_seconds)
    if path.suffix.lower() in CONTAINER_SUFFIXES:
        wave, sr = _decode_container(path)
    else:
        try:
            wave, sr = sf.read(native_path(path), dtype="float32", always_2d=True)
        except Exception as err:
            raise AudioError(path, "unreadable", str(err)) from err
        wave = wave.mean(axis=1)
    return prepare(wave, sr, sample_rate, trim_db, max_seconds, path, min_seconds)


def resample(wave: np.ndarray, sr: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """soxr "HQ" resampling, length ceil(n * ratio): what ``librosa.resample(res_type="soxr_hq")``
    returns, without importing librosa (and numba) on the path of every detector start-up."""
    import soxr

    n_out = int(np.ceil(wave.size * float(sample_rate) / sr))
    out = soxr.resample(wave, sr, sample_rate, quality="soxr_hq")
    if out.size < n_out:
        out = np.pad(out, (0, n_out - out.size))
    return np.asarray(out[:n_out], dtype=wave.dtype)


def prepare(wave: np.ndarray, sr: int, sample_rate: int = SAMPLE_RATE, trim_db: float | None = None,
            max_seconds: float | None = None, name: str | Path = "<array>",
            min_seconds: float | None = MIN_SECONDS) -> np.ndarray:
    """Checks and conversions shared by files and in-memory arrays."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=0 if wave.shape[0] < wave.shape[1] else 1)
    if wave.size == 0:
        raise AudioError(name, "empty")
    if not np.isfinite(wave).all():
        raise AudioError(name, "non_finite")
    if sr <= 0:
        raise AudioError(name, "unreadable", f"sample rate {sr}")
    check_duration(wave.size / sr, name, min_seconds, max_seconds)
    if sr != sample_rate:
        wave = resample(wave, sr, sample_rate)
    if float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) < SILENCE_RMS:
        raise AudioError(name, "silent")
    if trim_db is not None:
        import librosa

        trimmed, _ = librosa.effects.trim(wave, top_db=trim_db)
        wave = trimmed if trimmed.size >= sample_rate // 10 else wave
    return np.ascontiguousarray(wave, dtype=np.float32)


def _probe_container(path: Path) -> AudioInfo:
    av = _import_av()
    try:
        with av.open(str(path)) as box:
            streams = box.streams.audio
            if not streams:
                raise AudioError(path, "empty", "no audio stream")
            stream = streams[0]
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif box.duration is not None:
                duration = box.duration / 1_000_000
            rate = stream.codec_context.sample_rate or stream.rate
            channels = stream.codec_context.channels
    except AudioError:
        raise
    except Exception as err:
        raise AudioError(path, "unreadable", str(err)) from err
    if not duration or duration <= 0:
        duration = _decode_container(path)[0].size / SAMPLE_RATE
    return AudioInfo(duration, int(rate or SAMPLE_RATE), int(channels or 1))


def _decode_container(path: Path) -> tuple[np.ndarray, int]:
    """Audio track of a container (mp4 etc.) through PyAV, resampled by FFmpeg to mono 16 kHz."""
    av = _import_av()
    chunks = []
    try:
        with av.open(str(path)) as box:
            if not box.streams.audio:
                raise AudioError(path, "empty", "no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in box.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except Exception as err:
        raise AudioError(path, "unreadable", str(err)) from err
    if not chunks:
        raise AudioError(path, "empty")
    return np.concatenate(chunks).astype(np.float32), SAMPLE_RATE


def _import_av():
    try:
        import av
    except ImportError as err:  # pragma: no cover - av is a declared dependency
        raise AudioError("<av>", "unreadable", "PyAV is needed for containers: pip install av") from err
    return av
