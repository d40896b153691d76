"""Lossy codec round trips in memory (PyAV / FFmpeg), and the encoder-delay alignment every round trip shares.

Views (:class:`scaa.dsp.views.Codec`), channel conditions (:class:`scaa.dsp.conditions.Codec`)
and generated training spoofs (:class:`scaa.dsp.vocoders.MP3`, ``Opus``) all
encode a clip, decode it again and drop the encoder's priming samples. The decoding and
the delay search live here once:

- :func:`decode`: a compressed stream back to mono float32 at a given rate;
- :func:`codec_delay`: the lag (0..``max_lag``) at which the decoded signal best matches
  the first second of the input (cross-correlation, FFT); 0 when the input's first second
  is silent or the decoded signal is too short to search;
- :func:`encode` (float input, resampled to the encoder's sample format) and
  :func:`encode_pcm16` (16-bit PCM input) write one in-memory stream.
"""
from __future__ import annotations

import io

import numpy as np

from scaa.dsp.audio import SAMPLE_RATE

CODECS = {  # name -> (FFmpeg encoder, container, input sample rate)
    "mp3": ("libmp3lame", "mp3", SAMPLE_RATE),
    "opus": ("libopus", "ogg", SAMPLE_RATE),
    "aac": ("aac", "adts", SAMPLE_RATE),
}
MAX_LAG = 4096  # encoder delay searched at most (samples)


def codec_delay(decoded: np.ndarray, reference: np.ndarray, max_lag: int = MAX_LAG, dtype=None) -> int:
    """The encoder delay: the lag in [0, ``max_lag``] at which ``decoded`` best matches the
    first second of ``reference`` (argmax of their cross-correlation). 0 when ``max_lag`` <=
    0, when that second is silent or when ``decoded`` is shorter than it. ``dtype``: what both
    are cast to before correlating (None: as given)."""
    head = reference[:min(reference.size, SAMPLE_RATE)]
    seg = decoded[:head.size + max_lag]
    if max_lag <= 0 or not np.any(head) or seg.size < head.size:
        return 0
    if dtype is not None:
        head, seg = head.astype(dtype), seg.astype(dtype)
    from scipy.signal import correlate

    return int(np.argmax(correlate(seg, head, mode="valid", method="fft")))


def encode(wave: np.ndarray, codec: str, bitrate_kbps: float) -> bytes:
    """The 16 kHz float clip as one in-memory compressed stream of a :data:`CODECS` codec
    (no subprocess, no temporary file)."""
    import av

    encoder, container, rate = CODECS[codec]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(encoder, rate=rate, layout="mono")
        stream.bit_rate = int(bitrate_kbps * 1000)
        sample_format = stream.codec_context.codec.audio_formats[0].name
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave, np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate)
        for f in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def encode_pcm16(x: np.ndarray, sr: int, codec: str, container: str, bit_rate: int) -> bytes:
    """Mono audio at ``sr``, rounded to 16-bit PCM, as one in-memory stream of FFmpeg
    encoder ``codec`` in ``container`` at ``bit_rate`` bit/s."""
    import av

    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)[None, :]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=sr, layout="mono")
        stream.bit_rate = int(bit_rate)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def decode(data: bytes, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A compressed stream back to mono float32 at ``rate``."""
    import av

    chunks = []
    with av.open(io.BytesIO(data)) as box:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in box.decode(audio=0):
            chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(frame))
        chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(None))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or zero-padded to ``n`` samples."""
    return x[:n] if x.size >= n else np.pad(x, (0, n - x.size))


def align(decoded: np.ndarray, reference: np.ndarray, max_lag: int = MAX_LAG) -> np.ndarray:
    """Drop the encoder's priming samples (MP3 and Opus containers record them, raw AAC
    does not): the lag within the extra decoded samples that best matches the input; the
    result has the input's length."""
    lag = codec_delay(decoded, reference, min(decoded.size - reference.size, max_lag), dtype=np.float64)
    return fit_length(decoded[lag:], reference.size)
