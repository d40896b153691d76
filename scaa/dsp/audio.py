"""Audio loading in one place: any supported file -> mono float32 at 16 kHz.

Problems become an :class:`AudioError` whose ``reason`` is short and stable
(``missing``, ``unreadable``, ``empty``, ``too_short``, ``silent``, ``too_long``,
``non_finite``) so callers can record a skip instead of crashing deep inside a job.
A clip shorter than ``min_seconds`` (default :data:`MIN_SECONDS`) is refused here, in the
one loader, so the workflow, ``scaa detect`` and ``scaa overlay`` agree on it.
"""
from __future__ import annotations

import math
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
# the decoded-sample budget of max_seconds (see decode_limit): room for 48 kHz stereo, not more
DECODE_RATE = 48_000
DECODE_CHANNELS = 2
_UNKNOWN_FRAMES = 2**62  # libsndfile's frame count for a length the header leaves unset (SF_COUNT_MAX)
BLOCK_FRAMES = 65_536  # frames decoded at a time (per channel): memory goes with the output, not the file


class AudioError(Exception):
    def __init__(self, path, reason: str, detail: str = ""):
        self.path, self.reason, self.detail = str(path), reason, detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int


def probe(path: str | Path, max_seconds: float | None = None) -> AudioInfo:
    """Read the header only (cheap) so the manifest can reject bad files early; pass the result
    to :func:`check_input`. A container that does not state its length is decoded to count it,
    in a streaming way, stopping (``too_long``) once past ``max_seconds`` or :func:`decode_limit`."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "missing")
    if path.suffix.lower() in CONTAINER_SUFFIXES:
        return _probe_container(path, max_seconds)
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


def decode_limit(max_seconds: float | None) -> int | None:
    """The most samples (all channels counted) a file may decode to under ``max_seconds``:
    ``max_seconds`` of :data:`DECODE_RATE` Hz x :data:`DECODE_CHANNELS` channels. A short file
    of many channels at a huge rate (a decode bomb: 8 channels at 655 kHz) passes the duration
    check but not this one. None: no limit."""
    return None if max_seconds is None else int(math.ceil(max_seconds * DECODE_RATE * DECODE_CHANNELS))


def _limit_text(max_seconds: float) -> str:
    return (f"the decode limit is {decode_limit(max_seconds):,} samples: max_seconds {max_seconds:g} s x "
            f"{DECODE_RATE // 1000} kHz x {DECODE_CHANNELS} channels")


def check_input(info: AudioInfo, name, max_seconds: float | None = None,
                min_seconds: float | None = None) -> None:
    """The input gate on what a header or container says, before any decoding: the duration
    (``too_short`` / ``too_long``) and the decoded samples, channels x rate x seconds, against
    :func:`decode_limit` (``too_long``, naming the limit)."""
    check_duration(info.duration_s, name, min_seconds, max_seconds)
    limit = decode_limit(max_seconds)
    samples = info.duration_s * info.sample_rate * info.channels
    if limit is not None and samples > limit:
        raise AudioError(name, "too_long", f"{info.channels} channels x {info.sample_rate} Hz x "
                                           f"{info.duration_s:.1f} s = {samples:,.0f} samples to decode; "
                                           + _limit_text(max_seconds))


def load(path: str | Path, sample_rate: int = SAMPLE_RATE, trim_db: float | None = None,
         max_seconds: float | None = None, min_seconds: float | None = MIN_SECONDS) -> np.ndarray:
    """Decode, downmix to mono, resample, optionally trim silence; float32 in [-1, 1].

    With ``max_seconds``, the input gate: a file whose header (or container) says it is too
    long, or would decode to more samples than :func:`decode_limit`, is refused before
    decoding (``too_long``); otherwise it is decoded in blocks, each mixed to mono and
    resampled as it comes, and decoding stops as soon as it passes either limit (a header
    that does not say, or lies). Peak memory is bounded by the limit, not by the file. The
    samples are the same as decoding the whole file, mixing and resampling it at once."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "missing", "dangling symlink" if path.is_symlink() else "")
    if path.suffix.lower() in CONTAINER_SUFFIXES:
        wave, n_in, sr = _stream_container(path, sample_rate, max_seconds)
    else:
        wave, n_in, sr = _stream_soundfile(path, sample_rate, max_seconds)
    if n_in == 0:
        raise AudioError(path, "empty")
    check_duration(n_in / sr, path, min_seconds, max_seconds)
    return _finish(wave, sample_rate, trim_db, path)


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
    return _finish(wave, sample_rate, trim_db, name)


def _finish(wave: np.ndarray, sample_rate: int, trim_db: float | None, name) -> np.ndarray:
    """The checks after resampling, shared by files and arrays: silence, then the optional trim."""
    if float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) < SILENCE_RMS:
        raise AudioError(name, "silent")
    if trim_db is not None:
        import librosa

        trimmed, _ = librosa.effects.trim(wave, top_db=trim_db)
        wave = trimmed if trimmed.size >= sample_rate // 10 else wave
    return np.ascontiguousarray(wave, dtype=np.float32)


class _Sink:
    """Where streamed mono blocks go: kept (``load``) or only counted (``probe``)."""

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.chunks: list[np.ndarray] = []
        self.size = 0

    def add(self, block: np.ndarray) -> None:
        if block.size:
            self.size += block.size
            if self.keep:
                self.chunks.append(block)

    def wave(self) -> np.ndarray:
        if not self.chunks:
            return np.zeros(0, np.float32)
        return self.chunks[0] if len(self.chunks) == 1 else np.concatenate(self.chunks)


class _Budget:
    """Counts what decoding has produced so far and stops it the moment a limit is passed:
    more than ``max_seconds`` at the file's own rate, or more samples than :func:`decode_limit`."""

    def __init__(self, name, max_seconds: float | None, how: str):
        self.name, self.max_seconds, self.how = name, max_seconds, how
        self.limit = decode_limit(max_seconds)
        self.frames = 0     # per channel, at the input rate
        self.samples = 0    # all channels
        self.seconds = 0.0
        self._by_rate: dict[int, int] = {}  # frames per input rate: seconds by one division each, as the
        # header's frames / rate (a running sum of block seconds drifts: a file of exactly max_seconds was refused)

    def take(self, frames: int, channels: int, rate: int) -> None:
        self.frames += frames
        self.samples += frames * channels
        self._by_rate[rate] = self._by_rate.get(rate, 0) + frames
        self.seconds = sum(n / r for r, n in self._by_rate.items())
        if self.max_seconds is None:
            return
        if self.seconds > self.max_seconds:
            raise AudioError(self.name, "too_long", f"more than {self.max_seconds:g} s ({self.how}: decoding "
                                                    f"stopped at {self.seconds:.1f} s)")
        if self.samples > self.limit:
            raise AudioError(self.name, "too_long", f"more than {self.limit:,} decoded samples ({self.how}: "
                                                    f"decoding stopped at {self.seconds:.1f} s of {channels} "
                                                    f"channels x {rate} Hz); " + _limit_text(self.max_seconds))


def _stream_soundfile(path: Path, sample_rate: int, max_seconds: float | None) -> tuple[np.ndarray, int, int]:
    """(mono wave at ``sample_rate``, frames decoded, native rate) of a libsndfile format, read in
    blocks of :data:`BLOCK_FRAMES`: each block mixed to mono (the mean of its channels) and fed to
    one soxr stream, which gives the samples a one-shot :func:`resample` of the whole file gives."""
    try:
        handle = sf.SoundFile(native_path(path))
    except Exception as err:  # libsndfile raises its own RuntimeError subclasses
        raise AudioError(path, "unreadable", str(err)) from err
    with handle:
        sr, channels = handle.samplerate, handle.channels
        if sr <= 0:
            raise AudioError(path, "unreadable", f"sample rate {sr}")
        stated = 0 < handle.frames < _UNKNOWN_FRAMES  # a streamed FLAC may leave its length unset
        if max_seconds is not None and stated:  # the header's word, before decoding
            check_input(AudioInfo(handle.frames / sr, sr, channels), path, max_seconds)
        budget = _Budget(path, max_seconds, "the header understated the length" if stated
                         else "the header does not state the length")
        sink = _Sink()
        stream = None if sr == sample_rate else _soxr_stream(sr, sample_rate)
        while True:
            try:
                block = handle.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            except Exception as err:
                raise AudioError(path, "unreadable", str(err)) from err
            if not len(block):
                break
            budget.take(len(block), channels, sr)
            mono = block.mean(axis=1)
            if not np.isfinite(mono).all():
                raise AudioError(path, "non_finite")
            sink.add(mono if stream is None else stream.resample_chunk(mono, last=False))
        if stream is not None and budget.frames:
            sink.add(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    wave = sink.wave()
    if stream is not None and budget.frames:
        wave = _exact_length(wave, budget.frames, sr, sample_rate)
    return wave, budget.frames, sr


def _soxr_stream(sr: int, sample_rate: int):
    import soxr

    return soxr.ResampleStream(sr, sample_rate, 1, dtype="float32", quality="soxr_hq")


def _exact_length(wave: np.ndarray, n_in: int, sr: int, sample_rate: int) -> np.ndarray:
    """The length :func:`resample` gives, ceil(n * ratio)."""
    n_out = int(np.ceil(n_in * float(sample_rate) / sr))
    if wave.size < n_out:
        wave = np.pad(wave, (0, n_out - wave.size))
    return np.asarray(wave[:n_out], dtype=np.float32)


def _container_info(box, stream) -> tuple[float | None, int, int]:
    """(duration the container or stream states, or None; rate; channels) of an audio stream."""
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif box.duration is not None:
        duration = box.duration / 1_000_000
    rate = stream.codec_context.sample_rate or stream.rate
    channels = stream.codec_context.channels
    return (duration if duration and duration > 0 else None), int(rate or SAMPLE_RATE), int(channels or 1)


def _frames(box):
    """The decoded frames of the first audio stream (a seam for tests to count them)."""
    return box.decode(audio=0)


def _stream_container(path: Path, sample_rate: int, max_seconds: float | None,
                      keep: bool = True) -> tuple[np.ndarray, int, int]:
    """The audio track of a container (mp4, m4a, mkv, webm, ...) through PyAV: frame by frame,
    FFmpeg's resampler to mono ``sample_rate``. The duration and decoded samples the container
    states pass :func:`check_input` first; one that states none is decoded while a
    :class:`_Budget` allows. Returns (wave, its length, ``sample_rate``): the duration is
    measured on the resampled output, as it always was for containers. ``keep=False`` counts
    the samples only (:func:`probe` of a container that does not say its length)."""
    av = _import_av()
    sink = _Sink(keep)
    try:
        with av.open(str(path)) as box:
            if not box.streams.audio:
                raise AudioError(path, "empty", "no audio stream")
            stream = box.streams.audio[0]
            duration, rate, channels = _container_info(box, stream)
            if max_seconds is not None and duration is not None:
                check_input(AudioInfo(duration, rate, channels), path, max_seconds)
            how = ("the container does not state its length" if duration is None
                   else "the container understated its length")
            budget = _Budget(path, max_seconds, how)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in _frames(box):
                budget.take(frame.samples, frame.layout.nb_channels, frame.sample_rate or rate)
                for out in resampler.resample(frame):
                    sink.add(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                sink.add(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except Exception as err:
        raise AudioError(path, "unreadable", str(err)) from err
    if not sink.size:
        raise AudioError(path, "empty")
    wave = sink.wave().astype(np.float32, copy=False) if keep else np.zeros(0, np.float32)
    return wave, sink.size, sample_rate


def _import_av():
    try:
        import av
    except ImportError as err:  # pragma: no cover - av is a declared dependency
        raise AudioError("<av>", "unreadable", "PyAV is needed for containers: pip install av") from err
    return av


def _probe_container(path: Path, max_seconds: float | None = None) -> AudioInfo:
    av = _import_av()
    try:
        with av.open(str(path)) as box:
            streams = box.streams.audio
            if not streams:
                raise AudioError(path, "empty", "no audio stream")
            duration, rate, channels = _container_info(box, streams[0])
    except AudioError:
        raise
    except Exception as err:
        raise AudioError(path, "unreadable", str(err)) from err
    if duration is None:  # not stated: count it, within the limits
        duration = _stream_container(path, SAMPLE_RATE, max_seconds, keep=False)[1] / SAMPLE_RATE
    return AudioInfo(duration, rate, channels)
